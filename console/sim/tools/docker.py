"""A fake `docker` (and `docker-compose`) CLI for simulated nodes without dockerd.

It speaks the Docker Engine API over the node's socket, like the real client: `ps`,
`inspect`, `logs`, `start|stop|restart|rm`, `exec`, `version`, `info`, `pull`, `image inspect`,
`system dial-stdio`, and `compose up|ps|down|pull|config --images|version` for the stack's
compose files.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from console.sim.tools import option, sim_dir
from console.sim.tools.dockerclient import DockerError, call, get_json, socket_path

CLIENT_VERSION = "20.10.24+dfsg1"
COMPOSE_VERSION = "2.24.6"


def _ago(created: int) -> str:
    s = int(time.time() - created)
    if s < 60:
        return f"{max(s, 1)} seconds ago"
    if s < 3600:
        return f"{s // 60} minutes ago"
    return f"{s // 3600} hours ago"


def _ports(ports: list[dict]) -> str:
    """As the CLI writes them: `0.0.0.0:9100->9100/tcp, 127.0.0.1:9200->9200/tcp`."""
    out = []
    for p in ports:
        if p.get("PublicPort"):
            out.append(f"{p.get('IP', '')}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}")
        else:
            out.append(f"{p['PrivatePort']}/{p['Type']}")
    return ", ".join(out)


def _row(c: dict) -> dict[str, str]:
    """The fields `docker ps --format` knows, as the real CLI renders them."""
    return {
        "ID": c["Id"][:12],
        "Image": c["Image"],
        "Command": f'"{c["Command"][:20]}"',
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(c["Created"])),
        "RunningFor": _ago(c["Created"]),
        "Ports": _ports(c.get("Ports") or []),
        "State": c["State"],
        "Status": c["Status"],
        "Size": "0B",
        "Names": c["Names"][0].lstrip("/"),
        "Labels": ",".join(f"{k}={v}" for k, v in c["Labels"].items()),
        "Mounts": "",
        "Networks": "",
        "LocalVolumes": "0",
    }


def _render(fmt: str, row: dict[str, str]) -> str:
    if fmt.strip() == "{{json .}}":
        return json.dumps(row, separators=(",", ":"))
    fmt = fmt.replace("\\t", "\t").replace("table ", "")
    return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: row.get(m.group(1), ""), fmt)


def _table(rows: list[dict[str, str]], columns: list[tuple[str, str]]) -> str:
    widths = [max([len(title)] + [len(r[key]) for r in rows]) for key, title in columns]
    lines = ["   ".join(t.ljust(w) for (_, t), w in zip(columns, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append(
            "   ".join(r[k].ljust(w) for (k, _), w in zip(columns, widths, strict=True)).rstrip()
        )
    return "\n".join(lines) + "\n"


PS_COLUMNS = [
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
]


def cmd_ps(args: list[str], project: str | None = None) -> int:
    show_all = any(a in ("-a", "--all") for a in args)
    quiet = any(a in ("-q", "--quiet") for a in args)
    fmt = None
    filters: dict[str, list[str]] = {}
    for i, a in enumerate(args):
        if a == "--format" and i + 1 < len(args):
            fmt = args[i + 1]
        elif a.startswith("--format="):
            fmt = a.split("=", 1)[1]
        elif a in ("-f", "--filter") and i + 1 < len(args):
            k, _, v = args[i + 1].partition("=")
            filters.setdefault(k, []).append(v)
    if project:
        filters.setdefault("label", []).append(f"com.docker.compose.project={project}")
    query = {"all": "1" if show_all else "0"}
    if filters:
        query["filters"] = json.dumps(filters)
    rows = [_row(c) for c in get_json("/containers/json", query)]
    if quiet:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
    elif fmt:
        sys.stdout.write("".join(_render(fmt, r) + "\n" for r in rows))
    else:
        sys.stdout.write(_table(rows, PS_COLUMNS))
    return 0


def cmd_logs(args: list[str]) -> int:
    names = [a for a in args if not a.startswith("-") and not a.isdigit()]
    query = {"stdout": "1", "stderr": "1"}
    for i, a in enumerate(args):
        if a in ("--tail", "-n") and i + 1 < len(args):
            query["tail"] = args[i + 1]
        elif a in ("-t", "--timestamps"):
            query["timestamps"] = "1"
    _, data = call("GET", f"/containers/{names[0]}/logs", query)
    i = 0
    while i + 8 <= len(data):
        stream, size = struct.unpack(">BxxxL", data[i : i + 8])
        (sys.stdout if stream == 1 else sys.stderr).write(data[i + 8 : i + 8 + size].decode())
        i += 8 + size
    return 0


def cmd_action(action: str, names: list[str]) -> int:
    rc = 0
    for name in names:
        try:
            if action == "rm":
                call("DELETE", f"/containers/{name}", {"force": "1"})
            else:
                call("POST", f"/containers/{name}/{action}")
            print(name)
        except DockerError as exc:
            print(exc, file=sys.stderr)
            rc = 1
    return rc


def cmd_inspect(names: list[str]) -> int:
    out = []
    for name in names:
        try:
            out.append(get_json(f"/containers/{name}/json"))
        except DockerError:
            print(f"Error: No such object: {name}", file=sys.stderr)
            print(json.dumps(out, indent=4))
            return 1
    print(json.dumps(out, indent=4))
    return 0


def _format_option(args: list[str]) -> str | None:
    return option(args, "--format") or option(args, "-f")


def _go_template(fmt: str, doc: dict) -> str:
    """The two shapes of Go template scripts use: `{{.A.B}}` and `{{json .A}}`."""

    def value(path: str) -> object:
        v: object = doc
        for part in path.strip(".").split("."):
            v = v.get(part, "") if isinstance(v, dict) else ""
        return v

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return json.dumps(value(m.group(2)), separators=(",", ":"))
        v = value(m.group(2))
        return v if isinstance(v, str) else json.dumps(v)

    return re.sub(r"\{\{\s*(json\s+)?(\.[\w.]*)\s*\}\}", sub, fmt)


def cmd_version(args: list[str] | None = None) -> int:
    server = get_json("/version")
    fmt = _format_option(args or [])
    if fmt:
        doc = {"Client": {"Version": CLIENT_VERSION, "APIVersion": "1.41"}, "Server": server}
        print(_go_template(fmt, doc))
        return 0
    print(
        f"Client:\n Version:           {CLIENT_VERSION}\n API version:       1.41\n\n"
        f"Server:\n Engine:\n  Version:          {server['Version']}\n"
        f"  API version:      {server['ApiVersion']} (minimum version "
        f"{server['MinAPIVersion']})\n  OS/Arch:          linux/amd64"
    )
    return 0


def cmd_image_inspect(args: list[str]) -> int:
    """`docker image inspect [--format F] IMAGE…`: each image found printed (by the format,
    else in one JSON list), an error for each one missing; exit 1 if any is, as docker's."""
    fmt = _format_option(args)
    names, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in ("--format", "-f"):
            skip = True
        elif not a.startswith("-"):
            names.append(a)
    images = {t: i for i in get_json("/images/json") for t in i["RepoTags"]}
    found, missing = [], []
    for name in names:
        ref = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
        if ref in images:
            found.append(images[ref])
        else:
            missing.append(name)
    if fmt:
        for image in found:
            print(_go_template(fmt, image))
    else:
        print(json.dumps(found, indent=4))
    for name in missing:
        print(f"Error: No such image: {name}", file=sys.stderr)
    return 1 if missing else 0


def cmd_exec(args: list[str]) -> int:
    """`docker exec [-i] [-t] CONTAINER CMD…`: the command runs with the node's own tools,
    which is what a container given all GPUs and the host's view would see."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-e", "--env", "-u", "--user", "-w", "--workdir") else 1
    if len(args) < i + 2:
        print('"docker exec" requires at least 2 arguments.', file=sys.stderr)
        return 1
    name, command = args[i], args[i + 1 :]
    c = get_json(f"/containers/{name}/json")
    if not c["State"]["Running"]:
        print(f"Error response from daemon: container {c['Id']} is not running", file=sys.stderr)
        return 1
    import subprocess

    return subprocess.call(command)  # noqa: S603 - the operator's own command, as docker runs it


def dial_stdio() -> int:
    """Bridge stdin/stdout to the engine socket (what the Docker SDK runs over ssh://)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path())

    def upstream() -> None:
        fd = sys.stdin.fileno()
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, daemon=True).start()
    out = sys.stdout.fileno()
    while True:
        data = sock.recv(65536)
        if not data:
            break
        os.write(out, data)
    return 0


# ---------------------------------------------------------------- compose


def _service_lines(files: list[Path]):
    """A small reader for compose's `services:`: (service, None, None) where a file names a
    service (a later file extends it), then (service, indent, line) for each of its lines."""
    for path in files:
        in_services, level, current = False, 0, None
        for line in path.read_text().splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            indent = len(line) - len(line.lstrip())
            if indent == 0:
                in_services, level, current = line.startswith("services:"), 0, None
                continue
            if not in_services:
                continue
            level = level or indent  # services sit at the first indent under `services:`
            if indent == level:
                m = re.match(r"^\s+([A-Za-z0-9._-]+):\s*$", line)
                current = m.group(1) if m else None
                if current:
                    yield current, None, None
            elif current:
                yield current, indent, line


def compose_services(files: list[Path]) -> list[tuple[str, str | None]]:
    """(service, image) of the compose files, in order, a service named in several files
    merged as compose merges it."""
    images: dict[str, str | None] = {}
    for service, _, line in _service_lines(files):
        images.setdefault(service, None)
        img = re.match(r"^\s+image:\s*['\"]?([^'\"\s]+)", line or "")
        if img:
            images[service] = os.path.expandvars(img.group(1))
    return list(images.items())


def compose_devices(files: list[Path]) -> dict[str, list[str]]:
    """service -> the GPU device ids its `deploy.resources.reservations.devices` name
    (`device_ids: ["0", "1"]`, the flow form fleetdeck writes); compose hands them to the
    engine as the container's DeviceRequests."""
    out: dict[str, list[str]] = {}
    for service, _, line in _service_lines(files):
        m = re.match(r"^\s+device_ids:\s*\[(.*)\]\s*$", line or "")
        if m:
            out[service] = [d.strip().strip("'\"") for d in m.group(1).split(",") if d.strip()]
    return out


def compose_runtimes_and_env(files: list[Path]) -> dict[str, tuple[str | None, list[str]]]:
    """service -> (its `runtime:`, its `environment:` list entries), as compose hands them
    to the engine (HostConfig.Runtime, Env); the list form fleetdeck writes."""
    out: dict[str, tuple[str | None, list[str]]] = {}
    for service, _, line in _service_lines(files):
        runtime, env = out.get(service, (None, []))
        m = re.match(r"^\s{4}runtime:\s*(\S+)\s*$", line or "")
        if m:
            runtime = m.group(1)
        e = re.match(r"^\s{6}-\s+['\"]?(\w+=[^'\"]*)['\"]?\s*$", line or "")
        if e:
            env = [*env, e.group(1)]
        out[service] = (runtime, env)
    return out


def _expand(text: str) -> str:
    """Compose's interpolation of ${VAR}, ${VAR:-default} and $VAR."""
    return re.sub(
        r"\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)",
        lambda m: os.environ.get(m.group(1) or m.group(3)) or (m.group(2) or ""),
        text,
    )


def compose_ports(files: list[Path]) -> dict[str, list[tuple[int, str, int]]]:
    """Each service's published ports as (container port, host IP, host port), the files
    merged in order as compose merges them: a later file's `ports:` adds to the list, and
    `ports: !override` replaces it (Compose 2.24.4+)."""
    ports: dict[str, list[tuple[int, str, int]]] = {}
    listing = None  # the indent of the `ports:` being read
    for service, indent, line in _service_lines(files):
        if line is None:
            listing = None
            continue
        if listing is not None and indent > listing:
            item = re.match(r"^\s+-\s*['\"]?([^'\"#]+?)['\"]?\s*(#.*)?$", line)
            if item:
                spec = _expand(item.group(1)).split("/")[0]
                v6 = re.match(r"^\[([0-9a-fA-F:.]+)\]:(.*)$", spec)  # [fd00::5]:9100:9100
                ip, rest = (v6.group(1), v6.group(2)) if v6 else (None, spec)
                parts = rest.split(":")
                if ip is None and len(parts) == 3:
                    ip, parts = parts[0], parts[1:]
                # a bare container port gets a random host port: not modelled
                if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                    bound = ip or "0.0.0.0"  # noqa: S104 - as docker reports it
                    ports[service].append((int(parts[1]), bound, int(parts[0])))
            continue
        listing = None
        head = re.match(r"^\s+ports:\s*(!override)?\s*$", line)
        if head:
            listing = indent
            if head.group(1) or service not in ports:
                ports[service] = []
    return ports


def empty_volume_source(path: Path) -> str | None:
    """What compose says of a volume whose source is an unset variable (`- ${HF_HOME}:/x`
    with HF_HOME unset): it refuses the whole file, whatever the command."""
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*-\s*['\"]?\$\{(\w+)\}(:[^'\"\s]+)", line)
        if m and not os.environ.get(m.group(1)):
            return f"invalid spec: {m.group(2)}: empty section between colons"
    return None


def cmd_compose(args: list[str]) -> int:
    files: list[Path] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-f", "--file") and i + 1 < len(args):
            files.append(Path(args[i + 1]))
            i += 2
            continue
        if a in ("-p", "--project-name") and i + 1 < len(args):
            i += 2
            continue
        rest.append(a)
        i += 1
    if rest[:1] == ["version"]:
        short = "--short" in rest
        print(COMPOSE_VERSION if short else f"Docker Compose version v{COMPOSE_VERSION}")
        return 0
    if not files:
        files = [p for p in (Path("docker-compose.yml"), Path("compose.yaml")) if p.exists()][:1]
    if not files:
        print("no configuration file provided: not found", file=sys.stderr)
        return 14
    for f in files:
        if not f.exists():
            print(f"open {f.resolve()}: no such file or directory", file=sys.stderr)
            return 14
    if not rest:
        print("Usage:  docker compose [OPTIONS] COMMAND", file=sys.stderr)
        return 1
    command, opts = rest[0], rest[1:]
    for f in files:
        problem = empty_volume_source(f)
        if problem:
            print(problem, file=sys.stderr)
            return 15
    declared = compose_services(files)
    wanted = [a for a in opts if not a.startswith("-")]
    unknown = [w for w in wanted if w not in {s for s, _ in declared}]
    if unknown:
        print(f"no such service: {unknown[0]}", file=sys.stderr)
        return 1
    chosen = [(s, img) for s, img in declared if not wanted or s in wanted]
    if command == "up":
        published = compose_ports(files)
        gpus = compose_devices(files)
        given = compose_runtimes_and_env(files)
        for service, image in chosen:
            if "--force-recreate" in opts:  # a new container, created from the inputs now
                try:
                    call("DELETE", f"/containers/{service}", {"force": "1"})
                    print(f" Container {service}  Recreate", file=sys.stderr)
                except DockerError as exc:
                    if exc.status != 404:
                        raise
            try:
                body: dict = {"Image": image}
                if service in published:
                    body["HostConfig"] = {
                        "PortBindings": {
                            f"{port}/tcp": [
                                {"HostIp": ip, "HostPort": str(host)}
                                for p, ip, host in published[service]
                                if p == port
                            ]
                            for port in dict.fromkeys(p for p, _, _ in published[service])
                        }
                    }
                if service in gpus:
                    body.setdefault("HostConfig", {})["DeviceRequests"] = [
                        {"Driver": "nvidia", "DeviceIDs": gpus[service], "Capabilities": [["gpu"]]}
                    ]
                runtime, env = given.get(service, (None, []))
                if runtime:
                    body.setdefault("HostConfig", {})["Runtime"] = runtime
                if env:
                    body["Env"] = env
                call("POST", "/containers/create", {"name": service}, body)
                print(f" Container {service}  Created", file=sys.stderr)
            except DockerError as exc:
                if exc.status != 409:
                    raise
            call("POST", f"/containers/{service}/start")
            print(f" Container {service}  Started", file=sys.stderr)
        return 0
    if command == "down":
        for service, _ in reversed(chosen):
            try:
                call("DELETE", f"/containers/{service}", {"force": "1"})
                print(f" Container {service}  Removed", file=sys.stderr)
            except DockerError:
                pass
        return 0
    if command == "pull":
        for service, image in chosen:
            name, _, tag = (image or f"{service}:latest").rpartition(":")
            call("POST", "/images/create", {"fromImage": name, "tag": tag})
            print(f" {service} Pulled", file=sys.stderr)
        return 0
    if command == "config" and "--services" in opts:
        print("".join(f"{s}\n" for s, _ in declared), end="")
        return 0
    if command == "config" and "--images" in opts:
        print("".join(f"{img}\n" for _, img in chosen if img), end="")
        return 0
    if command == "ps":
        names = {s for s, _ in chosen}
        rows = [
            _row(c)
            for c in get_json("/containers/json", {"all": "1"})
            if c["Names"][0].lstrip("/") in names
        ]
        cols = [
            ("Names", "NAME"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Ports", "PORTS"),
        ]
        fmt = next(
            (opts[i + 1] for i, a in enumerate(opts) if a == "--format" and i + 1 < len(opts)), None
        )
        if fmt == "json":
            print(
                json.dumps(
                    [
                        {
                            "Name": r["Names"],
                            "Service": r["Names"],
                            "State": r["State"],
                            "Status": r["Status"],
                            "Image": r["Image"],
                        }
                        for r in rows
                    ]
                )
            )
        else:
            sys.stdout.write(_table(rows, cols))
        return 0
    print(f"docker compose {command}: not supported by the simulator", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("Usage:  docker [OPTIONS] COMMAND", file=sys.stderr)
        return 1
    command, rest = args[0], args[1:]
    try:
        if command == "ps":
            return cmd_ps(rest)
        if command == "container" and rest[:1] in (["ls"], ["list"], ["ps"]):
            return cmd_ps(rest[1:])
        if command == "logs":
            return cmd_logs(rest)
        if command in ("start", "stop", "restart", "rm"):
            return cmd_action(command, [a for a in rest if not a.startswith("-")])
        if command == "inspect":
            return cmd_inspect([a for a in rest if not a.startswith("-")])
        if command == "version":
            return cmd_version(rest)
        if command == "info":
            fmt = _format_option(rest)
            info = get_json("/info")
            print(_go_template(fmt, info) if fmt else json.dumps(info, indent=1))
            return 0
        if command == "image" and rest[:1] == ["inspect"]:
            return cmd_image_inspect(rest[1:])
        if command == "exec":
            return cmd_exec(rest)
        if command == "pull" and rest:
            name, _, tag = rest[-1].rpartition(":") if ":" in rest[-1] else (rest[-1], "", "latest")
            call("POST", "/images/create", {"fromImage": name, "tag": tag})
            print(f"Status: Image is up to date for {rest[-1]}")
            return 0
        if command == "system" and rest[:1] == ["dial-stdio"]:
            return dial_stdio()
        if command == "compose":
            standalone = os.environ.get("FLEETDECK_SIM_STANDALONE_COMPOSE")
            if not standalone and (sim_dir() / "no-compose-plugin").exists():
                # the docker CLI without the compose plugin, word for word
                print(
                    "docker: 'compose' is not a docker command.\nSee 'docker --help'",
                    file=sys.stderr,
                )
                return 1
            return cmd_compose(rest)
    except DockerError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"docker: '{command}' is not a docker command (in the simulator).", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
