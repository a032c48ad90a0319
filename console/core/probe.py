"""The node-side probe: started once per node over the pooled SSH connection, it prints one
JSON line per interval (GPUs, system, containers) until its stdin closes, then exits.

This file runs on the node with the node's own python3 (3.8 or newer, standard library;
pynvml when importable), so it imports nothing from fleetdeck and keeps to old syntax.
A missing GPU, driver or docker is reported in the line, never fatal.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

# socket, subprocess and platform are imported where used: every import is paid on each
# probe start, on every node at once when the console opens

VERSION = 1
REASONS = [  # NVML clocks-event reason bits, lowest first
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
]
SMI_FIELDS = (
    "index,name,uuid,utilization.gpu,memory.used,memory.total,temperature.gpu,"
    "power.draw,power.limit,clocks_event_reasons.active,"
    "ecc.errors.uncorrected.volatile.total"
)


class Every:
    """A value that is dear to read (a process) and changes slowly: read every `period`."""

    def __init__(self, period):
        self.period, self.at, self.value = period, None, None

    def get(self, read):
        now = time.time()
        if self.at is None or now - self.at >= self.period:
            self.value, self.at = read(), now
        return self.value


DISKS = Every(30.0)
COMPUTE_APPS = Every(10.0)
DOCKER_CLI = Every(10.0)  # only when there is no docker socket to read cheaply
DRIVER = Every(3600.0)
DOCKER_VERSION = Every(10.0)
# the stacks' own readings, (line key, Every, reader): their probe parts, put before main()
# in the script the console sends (Stack.probe_part), append to it
EXTRA = []
# a container's inspect, read again only when its listing changes (state, status text:
# a restart, a health change, the uptime's words) or once a slow period: the listing alone
# each interval costs dockerd one request instead of one per container
INSPECTED = {}  # container id -> (state, status, when, inspect)
INSPECT_EVERY = [10.0]  # seconds: the slow period, set by --slow


def reasons(mask):
    return [name for bit, name in REASONS if mask is not None and mask & bit]


def run(cmd, timeout=10):
    import subprocess  # noqa: PLC0415 - see the imports above

    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True)
        return p.returncode, p.stdout, p.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", str(exc)


# ---------------------------------------------------------------- GPUs: NVML


class Nvml:
    def __init__(self):
        import pynvml  # noqa: PLC0415 - optional on the node

        self.n = pynvml
        pynvml.nvmlInit()
        self.driver = _s(pynvml.nvmlSystemGetDriverVersion())
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
                self.xids.append({"gpu": index, "xid": int(data.eventData), "t": time.time()})

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
            g["name"] = _s(self._get(n.nvmlDeviceGetName, h))
            g["uuid"] = _s(self._get(n.nvmlDeviceGetUUID, h))
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
            g["throttle"] = reasons(mask)
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


def _s(value):
    return value.decode() if isinstance(value, bytes) else value


# ---------------------------------------------------------------- GPUs: nvidia-smi


def _num(text):
    text = text.strip()
    if not text or text.startswith("[") or text in ("N/A",):
        return None
    try:
        return float(text) if "." in text else int(text, 0)
    except ValueError:
        return None


def gpus_smi():
    rc, out, err = run(["nvidia-smi", "--query-gpu=" + SMI_FIELDS, "--format=csv,noheader,nounits"])
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
        mask = _num(cells[9])
        gpus.append(
            {
                "index": int(cells[0]),
                "lost": False,
                "name": cells[1],
                "uuid": cells[2],
                "util": _num(cells[3]),
                "mem_used_mib": _num(cells[4]),
                "mem_total_mib": _num(cells[5]),
                "temp_c": _num(cells[6]),
                "power_w": _num(cells[7]),
                "power_limit_w": _num(cells[8]),
                "throttle": reasons(mask),
                "ecc_uncorrected": _num(cells[10]),
                "processes": [],
            }
        )
    if not gpus and rc != 0:
        return (
            None,
            None,
            (out + err).strip().splitlines()[0]
            if (out + err).strip()
            else f"nvidia-smi failed (exit {rc})",
        )
    rc2, apps, _ = COMPUTE_APPS.get(
        lambda: run(
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
                {"pid": _num(cells[1]), "mem_mib": _num(cells[2])}
            )
    rc3, ver, _ = DRIVER.get(
        lambda: run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    )
    if rc3 in (0, 15) and ver.strip():
        driver = ver.splitlines()[0].strip()
    return gpus, driver, None


# ---------------------------------------------------------------- Xid history

XID_WINDOW_S = 600  # as far back as the console keeps Xid events


def _xid_line(message):
    """(pci bus, xid) from a kernel line `NVRM: Xid (PCI:0000:3b:00): 79, pid=..., ...`."""
    head, sep, rest = message.partition("NVRM: Xid (PCI:")
    if not sep:
        return None
    bus, sep, rest = rest.partition("): ")
    number = rest.split(",", 1)[0].strip()
    if not sep or not number.isdigit():
        return None
    return bus.lower(), int(number)


def kernel_xids(now):
    """Xid events the kernel logged in the last XID_WINDOW_S, as [(t, bus, xid)].

    NVML reports only events that happen while the probe listens; the kernel log keeps the
    ones from before the console started. The journal first, then dmesg (root or adm).
    """
    found = []
    rc, out, _ = run(
        ["journalctl", "-k", "-o", "json", "--no-pager", f"--since=-{XID_WINDOW_S}s"], 10
    )
    for raw in out.splitlines() if rc == 0 else []:
        try:
            entry = json.loads(raw)
            t = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
            hit = _xid_line(entry.get("MESSAGE") or "")
        except (ValueError, KeyError, TypeError):
            continue
        if hit:
            found.append((t, hit[0], hit[1]))
    if rc != 0 or not out.strip():
        from datetime import datetime  # noqa: PLC0415 - only on this fallback

        rc, out, _ = run(["dmesg", "--time-format", "iso"], 10)
        for raw in out.splitlines() if rc == 0 else []:
            stamp, _, message = raw.partition(" ")
            hit = _xid_line(message)
            if not hit:
                continue
            try:
                t = datetime.fromisoformat(stamp.replace(",", ".")).timestamp()
            except ValueError:
                continue
            found.append((t, hit[0], hit[1]))
    return [x for x in found if x[0] > now - XID_WINDOW_S]


def xid_history(now, gpus):
    """The kernel's recent Xid events as probe `xids` entries, each GPU index found by its
    PCI bus (nvidia-smi); a lost GPU no tool can name is told by elimination."""
    events = kernel_xids(now)
    if not events:
        return []
    rc, out, _ = run(["nvidia-smi", "--query-gpu=index,pci.bus_id", "--format=csv,noheader"])
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
        {"gpu": by_bus.get(bus), "pci": bus, "xid": xid, "t": t, "source": "kernel log"}
        for t, bus, xid in events
    ]


# ---------------------------------------------------------------- containers


class UnixHttp:
    def __init__(self, path):
        self.path = path

    def get(self, url):
        import socket  # noqa: PLC0415 - see the imports above

        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(self.path)
            s.sendall(f"GET {url} HTTP/1.0\r\nHost: docker\r\nConnection: close\r\n\r\n".encode())
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        finally:
            s.close()
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if b"transfer-encoding: chunked" in head.lower():
            body = _dechunk(body)
        if status >= 400:
            raise OSError(f"docker API {status}: {body[:200].decode(errors='replace')}")
        return json.loads(body)


def _dechunk(body):
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out


def docker_socket():
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return "/var/run/docker.sock"


def _inspect(api, summary):
    now = time.time()
    seen = INSPECTED.get(summary["Id"])
    key = (summary.get("State"), summary.get("Status"))
    if seen is None or seen[:2] != key or now - seen[2] >= INSPECT_EVERY[0]:
        seen = key + (now, api.get(f"/containers/{summary['Id']}/json"))
        INSPECTED[summary["Id"]] = seen
    return seen[3]


def _container(summary, inspect):
    state = inspect.get("State", {})
    health = state.get("Health") or {}
    settings = inspect.get("NetworkSettings") or {}
    return {
        # the compose network addresses and the published ports ([port, host IP, host
        # port]): a private port such as the chain's RPC is reached through them
        "addresses": [
            n.get("IPAddress")
            for n in (settings.get("Networks") or {}).values()
            if n.get("IPAddress")
        ],
        "published": [
            [int(key.split("/")[0]), b.get("HostIp") or "", int(b["HostPort"])]
            for key, bindings in (settings.get("Ports") or {}).items()
            if key.split("/")[0].isdigit() and key.endswith("/tcp")
            for b in bindings or []
            if str(b.get("HostPort", "")).isdigit()
        ],
        "name": summary["Names"][0].lstrip("/"),
        "image": summary.get("Image"),
        "state": state.get("Status", summary.get("State")),
        "health": health.get("Status"),
        "restarts": inspect.get("RestartCount", 0),
        "started_at": state.get("StartedAt"),
        "exit_code": state.get("ExitCode"),
        "status": summary.get("Status"),
    }


def containers():
    path = docker_socket()
    if os.path.exists(path):
        try:
            api = UnixHttp(path)
            listing = api.get("/containers/json?all=1")
            out = [_container(c, _inspect(api, c)) for c in listing]
            for gone in set(INSPECTED) - {c["Id"] for c in listing}:
                del INSPECTED[gone]
            version = DOCKER_VERSION.get(lambda: api.get("/version").get("Version"))
            return out, version, "docker-socket", None
        except PermissionError:
            error = f"permission denied on {path} (add the SSH user to the docker group)"
        except (OSError, ValueError) as exc:
            error = f"docker socket {path}: {exc}"
    else:
        error = f"no docker socket at {path}"
        # the CLI can only do better through another context (rootless, remote)
        contexts = os.path.expanduser("~/.docker/contexts")
        if not os.environ.get("DOCKER_CONTEXT") and not os.path.isdir(contexts):
            return [], None, "none", error
    return DOCKER_CLI.get(lambda: containers_cli(error))


def containers_cli(error):
    rc, out, err = run(["docker", "ps", "-a", "--format", "{{json .}}"])
    if rc != 0:
        return [], None, "none", error if rc == 127 else (err.strip() or error)
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    result = []
    if rows:
        rc, text, _ = run(["docker", "inspect"] + [r["ID"] for r in rows])
        inspected = {i["Id"][:12]: i for i in json.loads(text)} if rc == 0 else {}
        for r in rows:
            summary = {
                "Names": ["/" + r["Names"]],
                "Image": r["Image"],
                "State": r["State"],
                "Status": r["Status"],
            }
            result.append(_container(summary, inspected.get(r["ID"], {})))
    rc, ver, _ = run(["docker", "version", "--format", "{{.Server.Version}}"])
    return result, ver.strip() if rc == 0 else None, "docker-cli", None


# ---------------------------------------------------------------- the system


def os_name():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return os.uname().sysname


def meminfo():
    out = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0]) // 1024
    except (OSError, ValueError):
        pass
    return out.get("MemTotal"), out.get("MemAvailable")


def disk(path):
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe.rstrip("/")) or "/"
    rc, out, err = run(["df", "-P", "-k", probe or "/"])
    lines = out.splitlines()
    if rc != 0 or len(lines) < 2:
        return {"path": path, "error": (err.strip() or "df failed")}
    cells = lines[-1].split()
    total, used, avail = int(cells[1]), int(cells[2]), int(cells[3])
    return {
        "path": path,
        "total_gb": round(total / 1048576, 1),
        "free_gb": round(avail / 1048576, 1),
        "used_pct": round(100.0 * used / total, 1) if total else None,
    }


def system(paths):
    try:
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError):
        uptime = None
    total, available = meminfo()
    return {
        "hostname": os.environ.get("FLEETDECK_HOSTNAME") or os.uname().nodename,
        "os": os_name(),
        "kernel": os.uname().release,
        "uptime_s": uptime,
        "load": list(os.getloadavg()),
        "mem_total_mib": total,
        "mem_available_mib": available,
        "disks": DISKS.get(lambda: [disk(p) for p in paths if p]),
        "python": sys.version.split()[0],
    }


# ---------------------------------------------------------------- main


def main(argv):
    interval, paths, once = 2.0, [], False
    i = 0
    while i < len(argv):
        if argv[i] == "--interval":
            interval = float(argv[i + 1])
            i += 1
        elif argv[i] == "--path":
            paths.append(argv[i + 1])
            i += 1
        elif argv[i] == "--slow":
            # how often the dear readings (df, docker CLI, process lists) are refreshed
            slow = float(argv[i + 1])
            DISKS.period, DOCKER_CLI.period, COMPUTE_APPS.period = slow, slow / 3, slow / 3
            DOCKER_VERSION.period = INSPECT_EVERY[0] = slow
            for _, every, _ in EXTRA:
                every.period = slow
            i += 1
        elif argv[i] == "--once":
            once = True
        i += 1
    stop = threading.Event()

    def watch_stdin():
        # the monitor holds our stdin open; when it goes away (EOF), so do we
        try:
            while sys.stdin.buffer.read(1024):
                pass
        except (OSError, ValueError):
            pass
        stop.set()

    if not once:
        threading.Thread(target=watch_stdin, daemon=True).start()
    nvml, nvml_error = None, None
    try:
        nvml = Nvml()
    except ImportError:
        nvml_error = "pynvml not installed"
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        nvml_error = str(exc) or type(exc).__name__
    seq = 0
    while not stop.is_set():
        started = time.time()
        line = {"v": VERSION, "seq": seq, "t": started}
        if nvml is not None:
            try:
                line["gpus"], line["gpu_source"] = nvml.read(), "nvml"
                line["driver"] = nvml.driver
                line["xids"] = nvml.take_xids()
            except Exception as exc:
                line["gpus"], line["gpu_source"], line["gpu_error"] = [], "nvml", str(exc)
        else:
            gpus, driver, error = gpus_smi()
            line["gpus"] = gpus or []
            line["gpu_source"] = "nvidia-smi" if gpus is not None else "none"
            line["driver"] = driver
            line["gpu_error"] = error or (f"pynvml: {nvml_error}" if gpus is None else None)
            line["xids"] = []
        if seq == 0 and line.get("gpu_source") != "none":
            line["xids"] = xid_history(started, line["gpus"]) + line.get("xids", [])
        items, docker_version, source, error = containers()
        line["containers"], line["container_source"] = items, source
        line["container_error"], line["docker_version"] = error, docker_version
        line["system"] = system(paths)
        for key, every, reader in EXTRA:
            read_at = every.at
            value = every.get(reader)
            if value is not None and every.at != read_at:  # sent when read, not every line
                line[key] = value
        line["took_ms"] = int((time.time() - started) * 1000)
        try:
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            break
        seq += 1
        if once:
            break
        stop.wait(max(0.0, interval - (time.time() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
