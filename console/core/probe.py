"""The node-side probe: started once per node over the pooled SSH connection, it prints one
JSON line per interval (accelerators, system, containers) until its stdin closes, then exits.

This file runs on the node with the node's own python3 (3.8 or newer, standard library),
so it imports nothing from fleetdeck and keeps to old syntax. The accelerator vendors'
readers are parts the console puts in before main() (console/core/accelerators/*_probe.py,
each adds itself to DEVICES), as are the stacks' (EXTRA). A missing device, driver or
docker is reported in the line, never fatal.
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
DOCKER_CLI = Every(10.0)  # only when there is no docker socket to read cheaply
DOCKER_VERSION = Every(10.0)
# the accelerator vendors' readers: each part (Accelerator.probe_part), put before main()
# in the script the console sends, appends its `devices(slow)`, which makes one
DEVICES = []
# the stacks' own readings, (line key, Every, reader): their probe parts, put before main()
# in the script the console sends (Stack.probe_part), append to it
EXTRA = []
# a container's inspect, read again only when its listing changes (state, status text:
# a restart, a health change, the uptime's words) or once a slow period: the listing alone
# each interval costs dockerd one request instead of one per container
INSPECTED = {}  # container id -> (state, status, when, inspect)
INSPECT_EVERY = [10.0]  # seconds: the slow period, set by --slow


def run(cmd, timeout=10):
    import subprocess  # noqa: PLC0415 - see the imports above

    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True)
        return p.returncode, p.stdout, p.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", str(exc)


def which(name):
    """The program `name` on PATH, or None: shutil.which without shutil's import, which
    would cost every probe start ~3 ms."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


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


# ---------------------------------------------------------------- accelerators


class LaterPart:
    """A vendor's part the console sent as text (Accelerator.probe_needs), compiled only
    once one of its programs is on PATH: a node of another vendor never pays its compile
    (~3 ms a part at every probe start). Looked for again each slow period, so a driver
    installed while the probe runs is found."""

    def __init__(self, vendor, needs, source, slow):
        self.vendor, self.needs, self.source, self.slow = vendor, needs, source, slow
        self.why = needs[0] + " not found"
        self.present = Every(slow)
        self.reader = None

    def read(self, now, first):
        if self.reader is None:
            if not self.present.get(lambda: any(which(n) for n in self.needs)):
                return None
            space = dict(globals())  # the probe's names, as a part put in the script has
            exec(compile(self.source, "<" + self.vendor + " part>", "exec"), space)  # noqa: S102
            self.reader, first = space["devices"](self.slow), True
        got = self.reader.read(now, first)
        self.why = getattr(self.reader, "why", self.why)
        return got


def later(vendor, needs, source):
    """DEVICES' maker for a part compiled only where its programs are (LaterPart)."""
    return lambda slow: LaterPart(vendor, needs, source, slow)


def accelerators(readers, now, first):
    """The line's device keys from every vendor's reader: `gpus` (each with its vendor),
    `gpu_source`, `driver`, `gpu_error` and `events` (each with its vendor). A vendor whose
    tools the node lacks says why, which is the error only where no vendor is found."""
    found, absent = [], []
    for reader in readers:
        try:
            got = reader.read(now, first)
        except Exception as exc:  # one vendor's reader failing leaves the others' devices
            got = {"gpus": [], "source": "none", "error": f"{reader.vendor}: {exc}"}
        if got is None:
            absent.append(reader.why)
        else:
            found.append((reader.vendor, got))
    gpus, events = [], []
    for vendor, got in found:
        for g in got.get("gpus") or []:
            g["vendor"] = vendor
            gpus.append(g)
        for e in got.get("events") or []:
            e["vendor"] = vendor
            events.append(e)
    errors = [got["error"] for _, got in found if got.get("error")]
    drivers = [got["driver"] for _, got in found if got.get("driver")]
    return {
        "gpus": gpus,
        "gpu_source": " + ".join(got["source"] for _, got in found) or "none",
        "driver": " / ".join(drivers) or None,
        "gpu_error": "; ".join(errors) or (None if found else "; ".join(absent) or None),
        "events": events,
    }


# ---------------------------------------------------------------- main


def main(argv):
    interval, paths, once, slow = 2.0, [], False, 30.0
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
            DISKS.period, DOCKER_CLI.period = slow, slow / 3
            DOCKER_VERSION.period = INSPECT_EVERY[0] = slow
            for _, every, _ in EXTRA:
                every.period = slow if every.period else 0.0  # 0: a part read each line
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
    readers = [make(slow) for make in DEVICES]
    seq = 0
    while not stop.is_set():
        started = time.time()
        line = {"v": VERSION, "seq": seq, "t": started}
        line.update(accelerators(readers, started, seq == 0))
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
