"""The NVIDIA part of the node probe (Accelerator.probe_part): the console puts this file
into the probe script it sends (console/core/probe.py, before its main()), where its
reader joins the probe's DEVICES. It reads the GPUs through NVML (libnvidia-ml.so.1 by
ctypes: Xid events as they happen) or, without it, `nvidia-smi`'s CSV, and the kernel
log's Xids from before the probe started.

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


def nv_num(text):
    text = text.strip()
    if not text or text.startswith("[") or text in ("N/A",):
        return None
    try:
        return float(text) if "." in text else int(text, 0)
    except ValueError:
        return None


NV_XID_EVENT = 0x8  # nvmlEventTypeXidCriticalError
NV_INSUFFICIENT_SIZE, NV_TIMEOUT, NV_FUNCTION_NOT_FOUND = 7, 10, 13
NV_NOT_AVAILABLE = 0xFFFFFFFFFFFFFFFF  # NVML_VALUE_NOT_AVAILABLE_ulonglong
# the enums the probe passes: the GPU's own sensor; uncorrected errors since the last boot
NV_TEMPERATURE_GPU, NV_UNCORRECTED, NV_VOLATILE = 0, 1, 0
# nvml.h's buffer sizes: a device's name and UUID (the _V2 sizes), the driver's version
NV_NAME_BYTES, NV_UUID_BYTES, NV_DRIVER_BYTES = 96, 96, 80
# what NVML cannot say itself: the library is missing, or too old for a call
NV_WORDS = {12: "NVML Shared Library Not Found", NV_FUNCTION_NOT_FOUND: "Function Not Found"}


class NvError(Exception):
    """An NVML call's error: `code` is its nvmlReturn_t, str() NVML's own words."""

    def __init__(self, code, text):
        Exception.__init__(self, text)
        self.code = code


def nv_structs(c):
    """NVML's structs as ctypes lays them out (nvml.h; the same fields as nvidia-ml-py's,
    which tests/unit/test_nvidia_probe.py compares): made when NVML is opened, so a node
    without it never imports ctypes."""

    class Utilization(c.Structure):
        _fields_ = [("gpu", c.c_uint), ("memory", c.c_uint)]

    class Memory(c.Structure):
        _fields_ = [("total", c.c_ulonglong), ("free", c.c_ulonglong), ("used", c.c_ulonglong)]

    class ProcessInfo(c.Structure):  # nvmlProcessInfo_t, the v2 and v3 calls' entries
        _fields_ = [
            ("pid", c.c_uint),
            ("usedGpuMemory", c.c_ulonglong),
            ("gpuInstanceId", c.c_uint),
            ("computeInstanceId", c.c_uint),
        ]

    class EventData(c.Structure):
        _fields_ = [
            ("device", c.c_void_p),
            ("eventType", c.c_ulonglong),
            ("eventData", c.c_ulonglong),
            ("gpuInstanceId", c.c_uint),
            ("computeInstanceId", c.c_uint),
        ]

    return Utilization, Memory, ProcessInfo, EventData


class NvNvml:
    """The GPUs through NVML (libnvidia-ml.so.1, which the driver installs) by ctypes: the
    few calls the probe makes, with NVML's own structs. Not pynvml: importing its 5,000
    lines cost each probe start about 20 ms of CPU, more than the whole first reading, and
    a node has NVML wherever it has the driver, pynvml only where someone installed it."""

    def __init__(self):
        import ctypes  # noqa: PLC0415 - only where the node has NVML's library

        self.c = ctypes
        try:
            self.lib = ctypes.CDLL("libnvidia-ml.so.1")
        except OSError:
            raise NvError(12, NV_WORDS[12]) from None
        self.Utilization, self.Memory, self.ProcessInfo, self.EventData = nv_structs(ctypes)
        self.call("nvmlInitWithFlags", 0)
        self.driver = self.text("nvmlSystemGetDriverVersion", None, NV_DRIVER_BYTES)
        self.xids = []
        self.lock = threading.Lock()
        self.listening = threading.Event()  # set once Xid events are heard
        threading.Thread(target=self._events, daemon=True).start()

    def call(self, name, *args):
        try:
            fn = getattr(self.lib, name)
        except AttributeError:  # an older driver's library
            raise NvError(NV_FUNCTION_NOT_FOUND, NV_WORDS[NV_FUNCTION_NOT_FOUND]) from None
        code = fn(*args)
        if code:
            raise NvError(code, self.words(code))

    def words(self, code):
        if code in NV_WORDS:
            return NV_WORDS[code]
        fn = self.lib.nvmlErrorString
        fn.restype = self.c.c_char_p
        said = fn(code)
        return said.decode(errors="replace") if said else f"NVML error {code}"

    def text(self, name, handle, size):
        buf = self.c.create_string_buffer(size)
        args = (buf, self.c.c_uint(size)) if handle is None else (handle, buf, self.c.c_uint(size))
        self.call(name, *args)
        return buf.value.decode(errors="replace")

    def number(self, name, handle, kind, *args):
        value = kind()
        self.call(name, handle, *(args + (self.c.byref(value),)))
        return value.value

    def count(self):
        n = self.c.c_uint()
        self.call("nvmlDeviceGetCount_v2", self.c.byref(n))
        return n.value

    def handle(self, index):
        h = self.c.c_void_p()
        self.call("nvmlDeviceGetHandleByIndex_v2", self.c.c_uint(index), self.c.byref(h))
        return h

    def _events(self):
        c = self.c
        try:
            events = c.c_void_p()
            self.call("nvmlEventSetCreate", c.byref(events))
            for i in range(self.count()):
                try:
                    self.call(
                        "nvmlDeviceRegisterEvents",
                        self.handle(i),
                        c.c_ulonglong(NV_XID_EVENT),
                        events,
                    )
                except NvError:
                    continue
        except Exception:
            return
        self.listening.set()
        while True:
            data = self.EventData()
            try:
                self.call("nvmlEventSetWait_v2", events, c.byref(data), c.c_uint(1000))
            except NvError as exc:
                if exc.code == NV_FUNCTION_NOT_FOUND:
                    return  # a driver before R450: its events are not heard
                if exc.code != NV_TIMEOUT:  # no event this second is a timeout; else wait
                    time.sleep(1.0)
                continue
            except Exception:
                return
            try:
                index = self.number("nvmlDeviceGetIndex", c.c_void_p(data.device), c.c_uint)
            except Exception:
                index = None
            with self.lock:
                self.xids.append({"gpu": index, "code": int(data.eventData), "t": time.time()})

    def take_xids(self):
        with self.lock:
            out, self.xids = self.xids, []
        return out

    def read(self):
        c = self.c
        gpus = []
        for i in range(self.count()):
            try:
                h = self.handle(i)
            except NvError as exc:
                gpus.append({"index": i, "lost": True, "error": str(exc)})
                continue
            g = {"index": i, "lost": False}
            g["name"] = self._get(self.text, "nvmlDeviceGetName", h, NV_NAME_BYTES)
            g["uuid"] = self._get(self.text, "nvmlDeviceGetUUID", h, NV_UUID_BYTES)
            util = self._get(self._struct, "nvmlDeviceGetUtilizationRates", h, self.Utilization)
            g["util"] = util.gpu if util is not None else None
            mem = self._get(self._struct, "nvmlDeviceGetMemoryInfo", h, self.Memory)
            g["mem_used_mib"] = mem.used >> 20 if mem is not None else None
            g["mem_total_mib"] = mem.total >> 20 if mem is not None else None
            g["temp_c"] = self._get(
                self.number, "nvmlDeviceGetTemperature", h, c.c_uint, NV_TEMPERATURE_GPU
            )
            power = self._get(self.number, "nvmlDeviceGetPowerUsage", h, c.c_uint)
            g["power_w"] = round(power / 1000.0, 1) if power is not None else None
            limit = self._get(self.number, "nvmlDeviceGetEnforcedPowerLimit", h, c.c_uint)
            g["power_limit_w"] = round(limit / 1000.0, 1) if limit is not None else None
            g["throttle"] = nv_reasons(self._get(self._reasons, h))
            g["ecc_uncorrected"] = self._get(
                self.number,
                "nvmlDeviceGetTotalEccErrors",
                h,
                c.c_ulonglong,
                NV_UNCORRECTED,
                NV_VOLATILE,
            )
            g["processes"] = [
                {
                    "pid": p.pid,
                    "mem_mib": 0 if p.usedGpuMemory == NV_NOT_AVAILABLE else p.usedGpuMemory >> 20,
                }
                for p in self._get(self._processes, h) or []
            ]
            gpus.append(g)
        return gpus

    def _struct(self, name, handle, kind):
        value = kind()
        self.call(name, handle, self.c.byref(value))
        return value

    def _reasons(self, handle):
        try:
            return self.number("nvmlDeviceGetCurrentClocksEventReasons", handle, self.c.c_ulonglong)
        except NvError as exc:  # drivers before 535 name it for throttling
            if exc.code != NV_FUNCTION_NOT_FOUND:
                raise
        return self.number("nvmlDeviceGetCurrentClocksThrottleReasons", handle, self.c.c_ulonglong)

    def _processes(self, handle):
        """The compute processes on a GPU: NVML's two calls, the first for the count."""
        c = self.c
        name = "nvmlDeviceGetComputeRunningProcesses_v3"
        if not hasattr(self.lib, name):  # drivers before 510
            name = "nvmlDeviceGetComputeRunningProcesses_v2"
        count = c.c_uint(0)
        code = getattr(self.lib, name)(handle, c.byref(count), None)
        if code == 0:
            return []
        if code != NV_INSUFFICIENT_SIZE:
            raise NvError(code, self.words(code))
        count.value = count.value * 2 + 5  # room for processes started between the calls
        infos = (self.ProcessInfo * count.value)()
        self.call(name, handle, c.byref(count), infos)
        return infos[: count.value]

    def _get(self, read, *args):
        try:
            return read(*args)
        except NvError:
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
        rc, out, _ = run(["dmesg", "--time-format", "iso"], 10)  # noqa: F821
        for raw in out.splitlines() if rc == 0 else []:
            stamp, _, message = raw.partition(" ")
            hit = nv_xid_line(message)
            if not hit:
                continue
            from datetime import datetime  # noqa: PLC0415 - only for an Xid's line

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
        except Exception as exc:  # no library (no driver), Driver Not Loaded, ...
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
                "error": error or (f"NVML: {self.nvml_error}" if gpus is None else None),
                "events": [],
            }
        if first and got["source"] != "none":
            got["events"] = nv_xid_history(now, got["gpus"]) + got["events"]
        return got


def devices(slow):
    """This part's reader, for the probe's DEVICES (`slow`: the probe's slow period)."""
    return NvidiaDevices(slow)
