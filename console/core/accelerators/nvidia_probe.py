"""The NVIDIA part of the node probe (Accelerator.probe_part): the console puts this file
into the probe script it sends (console/core/probe.py, before its main()), where its
reader joins the probe's DEVICES. It reads the GPUs through NVML (pynvml, where the node
has it: Xid events as they happen) or `nvidia-smi`'s CSV, and the kernel log's Xids from
before the probe started.

It runs inside the probe script: stdlib only, old syntax, and every name of it starts
with `nv`/`Nv`, since all parts share the script's one namespace."""

import json
import threading
import time

NV_REASONS = [  # NVML clocks-event reason bits, lowest first
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
]
NV_SMI_FIELDS = (
    "index,name,uuid,utilization.gpu,memory.used,memory.total,temperature.gpu,"
    "power.draw,power.limit,clocks_event_reasons.active,"
    "ecc.errors.uncorrected.volatile.total"
)
NV_XID_WINDOW_S = 600  # as far back as the console keeps Xid events


def nv_reasons(mask):
    return [name for bit, name in NV_REASONS if mask is not None and mask & bit]


def nv_s(value):
    return value.decode() if isinstance(value, bytes) else value


def nv_num(text):
    text = text.strip()
    if not text or text.startswith("[") or text in ("N/A",):
        return None
    try:
        return float(text) if "." in text else int(text, 0)
    except ValueError:
        return None


class NvNvml:
    def __init__(self):
        import pynvml  # noqa: PLC0415 - optional on the node

        self.n = pynvml
        pynvml.nvmlInit()
        self.driver = nv_s(pynvml.nvmlSystemGetDriverVersion())
        self.xids = []
        self.lock = threading.Lock()
        threading.Thread(target=self._events, daemon=True).start()

    def _events(self):
        n = self.n
        try:
            events = n.nvmlEventSetCreate()
            for i in range(n.nvmlDeviceGetCount()):
                try:
                    n.nvmlDeviceRegisterEvents(
                        n.nvmlDeviceGetHandleByIndex(i), n.nvmlEventTypeXidCriticalError, events
                    )
                except n.NVMLError:
                    continue
        except Exception:
            return
        while True:
            try:
                data = n.nvmlEventSetWait(events, 1000)
            except n.NVMLError:
                continue
            except Exception:
                return
            try:
                index = n.nvmlDeviceGetIndex(data.device)
            except Exception:
                index = None
            with self.lock:
                self.xids.append({"gpu": index, "code": int(data.eventData), "t": time.time()})

    def take_xids(self):
        with self.lock:
            out, self.xids = self.xids, []
        return out

    def read(self):
        n = self.n
        gpus = []
        for i in range(n.nvmlDeviceGetCount()):
            try:
                h = n.nvmlDeviceGetHandleByIndex(i)
            except n.NVMLError as exc:
                gpus.append({"index": i, "lost": True, "error": str(exc)})
                continue
            g = {"index": i, "lost": False}
            g["name"] = nv_s(self._get(n.nvmlDeviceGetName, h))
            g["uuid"] = nv_s(self._get(n.nvmlDeviceGetUUID, h))
            util = self._get(n.nvmlDeviceGetUtilizationRates, h)
            g["util"] = util.gpu if util is not None else None
            mem = self._get(n.nvmlDeviceGetMemoryInfo, h)
            g["mem_used_mib"] = mem.used >> 20 if mem is not None else None
            g["mem_total_mib"] = mem.total >> 20 if mem is not None else None
            g["temp_c"] = self._get(n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU)
            power = self._get(n.nvmlDeviceGetPowerUsage, h)
            g["power_w"] = round(power / 1000.0, 1) if power is not None else None
            limit = self._get(n.nvmlDeviceGetEnforcedPowerLimit, h)
            g["power_limit_w"] = round(limit / 1000.0, 1) if limit is not None else None
            mask = self._get(n.nvmlDeviceGetCurrentClocksEventReasons, h)
            g["throttle"] = nv_reasons(mask)
            g["ecc_uncorrected"] = self._get(
                n.nvmlDeviceGetTotalEccErrors,
                h,
                n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                n.NVML_VOLATILE_ECC,
            )
            procs = self._get(n.nvmlDeviceGetComputeRunningProcesses, h) or []
            g["processes"] = [
                {"pid": p.pid, "mem_mib": (p.usedGpuMemory or 0) >> 20} for p in procs
            ]
            gpus.append(g)
        return gpus

    def _get(self, fn, *args):
        try:
            return fn(*args)
        except self.n.NVMLError:
            return None  # not supported on this GPU, or gone between calls


def nv_smi(apps_every, driver_every):
    """(gpus, driver, error) from nvidia-smi's CSV; gpus None where it cannot read them.
    The process list and the driver's version are read at their Every's pace."""
    rc, out, err = run(  # noqa: F821 - the probe's
        ["nvidia-smi", "--query-gpu=" + NV_SMI_FIELDS, "--format=csv,noheader,nounits"]
    )
    if rc == 127:
        return None, None, "nvidia-smi not found"
    gpus, driver = [], None
    for line in out.splitlines():
        if line.startswith("Unable to determine the device handle"):
            gpus.append({"index": None, "lost": True, "error": line.strip()})
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 11 or not cells[0].isdigit():
            continue
        mask = nv_num(cells[9])
        gpus.append(
            {
                "index": int(cells[0]),
                "lost": False,
                "name": cells[1],
                "uuid": cells[2],
                "util": nv_num(cells[3]),
                "mem_used_mib": nv_num(cells[4]),
                "mem_total_mib": nv_num(cells[5]),
                "temp_c": nv_num(cells[6]),
                "power_w": nv_num(cells[7]),
                "power_limit_w": nv_num(cells[8]),
                "throttle": nv_reasons(mask),
                "ecc_uncorrected": nv_num(cells[10]),
                "processes": [],
            }
        )
    if not gpus and rc != 0:
        said = (out + err).strip()
        return None, None, said.splitlines()[0] if said else f"nvidia-smi failed (exit {rc})"
    rc2, apps, _ = apps_every.get(
        lambda: run(  # noqa: F821
            [
                "nvidia-smi",
                "--query-compute-apps=gpu_uuid,pid,used_memory",
                "--format=csv,noheader,nounits",
            ]
        )
    )
    by_uuid = {g.get("uuid"): g for g in gpus}
    for line in apps.splitlines() if rc2 == 0 else []:
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == 3 and cells[0] in by_uuid:
            by_uuid[cells[0]]["processes"].append(
                {"pid": nv_num(cells[1]), "mem_mib": nv_num(cells[2])}
            )
    rc3, ver, _ = driver_every.get(
        lambda: run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])  # noqa: F821
    )
    if rc3 in (0, 15) and ver.strip():
        driver = ver.splitlines()[0].strip()
    return gpus, driver, None


def nv_xid_line(message):
    """(pci bus, xid) from a kernel line `NVRM: Xid (PCI:0000:3b:00): 79, pid=..., ...`."""
    head, sep, rest = message.partition("NVRM: Xid (PCI:")
    if not sep:
        return None
    bus, sep, rest = rest.partition("): ")
    number = rest.split(",", 1)[0].strip()
    if not sep or not number.isdigit():
        return None
    return bus.lower(), int(number)


def nv_kernel_xids(now):
    """Xid events the kernel logged in the last NV_XID_WINDOW_S, as [(t, bus, xid)].

    NVML reports only events that happen while the probe listens; the kernel log keeps the
    ones from before the console started. The journal first, then dmesg (root or adm).
    """
    found = []
    rc, out, _ = run(  # noqa: F821
        ["journalctl", "-k", "-o", "json", "--no-pager", f"--since=-{NV_XID_WINDOW_S}s"], 10
    )
    for raw in out.splitlines() if rc == 0 else []:
        try:
            entry = json.loads(raw)
            t = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
            hit = nv_xid_line(entry.get("MESSAGE") or "")
        except (ValueError, KeyError, TypeError):
            continue
        if hit:
            found.append((t, hit[0], hit[1]))
    if rc != 0 or not out.strip():
        from datetime import datetime  # noqa: PLC0415 - only on this fallback

        rc, out, _ = run(["dmesg", "--time-format", "iso"], 10)  # noqa: F821
        for raw in out.splitlines() if rc == 0 else []:
            stamp, _, message = raw.partition(" ")
            hit = nv_xid_line(message)
            if not hit:
                continue
            try:
                t = datetime.fromisoformat(stamp.replace(",", ".")).timestamp()
            except ValueError:
                continue
            found.append((t, hit[0], hit[1]))
    return [x for x in found if x[0] > now - NV_XID_WINDOW_S]


def nv_xid_history(now, gpus):
    """The kernel's recent Xid events as events of this reader, each GPU index found by its
    PCI bus (nvidia-smi); a lost GPU no tool can name is told by elimination."""
    events = nv_kernel_xids(now)
    if not events:
        return []
    rc, out, _ = run(["nvidia-smi", "--query-gpu=index,pci.bus_id", "--format=csv,noheader"])  # noqa: F821
    by_bus = {}
    for row in out.splitlines():
        cells = [c.strip() for c in row.split(",")]
        if len(cells) == 2 and cells[0].isdigit():
            # 00000000:3B:00.0 (nvidia-smi) is 0000:3b:00 in the kernel's words
            by_bus[cells[1].lower()[4:].rsplit(".", 1)[0]] = int(cells[0])
    unknown = {bus for _, bus, _ in events if bus not in by_bus}
    lost = [g.get("index") for g in gpus if g.get("lost") and g.get("index") is not None]
    if len(unknown) == 1 and len(lost) == 1:
        by_bus[unknown.pop()] = lost[0]
    return [
        {"gpu": by_bus.get(bus), "pci": bus, "code": xid, "t": t, "source": "kernel log"}
        for t, bus, xid in events
    ]


class NvidiaDevices:
    """The probe's reader of NVIDIA GPUs: read(now, first) is this vendor's part of a line,
    or None where the node has no NVIDIA tool at all (`why` says so)."""

    vendor = "nvidia"

    def __init__(self, slow):
        self.nvml, self.nvml_error, self.why = None, None, ""
        self.apps = Every(slow / 3)  # noqa: F821 - the probe's (this file runs inside it)
        self.driver_every = Every(3600.0)  # noqa: F821
        try:
            self.nvml = NvNvml()
        except ImportError:
            self.nvml_error = "pynvml not installed"
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            self.nvml_error = str(exc) or type(exc).__name__

    def read(self, now, first):
        if self.nvml is not None:
            try:
                got = {"gpus": self.nvml.read(), "source": "nvml", "driver": self.nvml.driver}
                got["events"] = self.nvml.take_xids()
            except Exception as exc:
                return {"gpus": [], "source": "nvml", "error": str(exc), "events": []}
        else:
            gpus, driver, error = nv_smi(self.apps, self.driver_every)
            if gpus is None and error == "nvidia-smi not found":
                self.why = error
                return None
            got = {
                "gpus": gpus or [],
                "source": "nvidia-smi" if gpus is not None else "none",
                "driver": driver,
                "error": error or (f"pynvml: {self.nvml_error}" if gpus is None else None),
                "events": [],
            }
        if first and got["source"] != "none":
            got["events"] = nv_xid_history(now, got["gpus"]) + got["events"]
        return got


def devices(slow):
    """This part's reader, for the probe's DEVICES (`slow`: the probe's slow period)."""
    return NvidiaDevices(slow)
