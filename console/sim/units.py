"""The systemd units of a simulated node: what its fake `systemctl` enables, starts and
restarts, and what a service installed on the host (Ollama) follows.

Files a root installer would write under / live under the sandbox's `.sim/root/` (a
simulated node never writes this machine's /etc), and `systemctl show -p FragmentPath`
says so, as a real systemd says where a unit's file is: a deploy writes its drop-ins
beside the unit file it is told of. As in systemd, a unit's files are read at
`daemon-reload` and its environment is taken when it starts.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from console.sim.http import Request, Response, Router, json_response

UNIT_DIR = "etc/systemd/system"
ENVIRONMENT = re.compile(r"^\s*Environment\s*=\s*(.*)$")
ENVIRONMENT_FILE = re.compile(r"^\s*EnvironmentFile\s*=\s*(-?)(\S+)\s*$")


@dataclass
class Unit:
    name: str
    fragment: Path
    enabled: bool = False
    active: bool = False
    loaded_env: dict[str, str] = field(default_factory=dict)  # at the last daemon-reload
    environment: dict[str, str] = field(default_factory=dict)  # the running service's
    since: float = 0.0
    restarts: int = 0
    loaded_at: float = 0.0  # when its files were read

    def drop_ins(self) -> list[Path]:
        folder = self.fragment.with_name(self.fragment.name + ".d")
        return sorted(folder.glob("*.conf")) if folder.is_dir() else []

    def changed_on_disk(self) -> bool:
        files = [self.fragment, *self.drop_ins()]
        return any(f.exists() and f.stat().st_mtime > self.loaded_at for f in files)

    def show(self) -> dict[str, str]:
        """Properties as `systemctl show` names them."""
        return {
            "Id": f"{self.name}.service",
            "FragmentPath": str(self.fragment),
            "DropInPaths": " ".join(str(p) for p in self.drop_ins()),
            "LoadState": "loaded",
            "ActiveState": "active" if self.active else "inactive",
            "SubState": "running" if self.active else "dead",
            "UnitFileState": "enabled" if self.enabled else "disabled",
            # as systemd: the configuration loaded, not the running process's environment
            "Environment": " ".join(f"{k}={v}" for k, v in self.loaded_env.items()),
            "NRestarts": str(self.restarts),
            "ActiveEnterTimestamp": time.strftime(
                "%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since)
            )
            if self.active
            else "",
            "NeedDaemonReload": "yes" if self.changed_on_disk() else "no",
        }


def read_environment(files: list[Path]) -> dict[str, str]:
    """Environment= lines of a unit and its drop-ins, later files over earlier ones."""
    env: dict[str, str] = {}
    for path in files:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if m := ENVIRONMENT_FILE.match(line):  # KEY=VALUE lines; `-`: may be missing
                env |= read_env_file(Path(m.group(2)))
                continue
            m = ENVIRONMENT.match(line)
            if not m:
                continue
            if not m.group(1).strip():  # `Environment=` alone resets the list
                env.clear()
                continue
            for word in shlex.split(m.group(1)):
                key, sep, value = word.partition("=")
                if sep:
                    env[key] = value
    return env


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return env
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            env[key.strip()] = " ".join(shlex.split(value)) if value.strip() else ""
    return env


class Units:
    def __init__(self, home: Path, changed: Callable[[], None]) -> None:
        self.home = home
        self.changed = changed  # the node reopens or closes what follows a unit
        self.items: dict[str, Unit] = {}

    @property
    def root(self) -> Path:
        return self.home / ".sim" / "root"

    def unit_file(self, name: str) -> Path:
        return self.root / UNIT_DIR / f"{name}.service"

    def get(self, name: str) -> Unit | None:
        return self.items.get(name)

    def active(self, name: str) -> bool:
        unit = self.items.get(name)
        return unit is not None and unit.active

    def daemon_reload(self) -> None:
        """Read every unit file (a new one becomes known, a removed one is gone)."""
        folder = self.root / UNIT_DIR
        names = {p.stem for p in folder.glob("*.service")} if folder.is_dir() else set()
        for name in list(self.items):
            if name not in names and not self.items[name].active:
                del self.items[name]
        for name in names:
            unit = self.items.setdefault(name, Unit(name, self.unit_file(name)))
            unit.loaded_env = read_environment([unit.fragment, *unit.drop_ins()])
            unit.loaded_at = time.time()

    def act(self, name: str, verb: str) -> str | None:
        """Do `systemctl VERB NAME`; the error systemctl prints, or None."""
        name = name.removesuffix(".service")
        unit = self.items.get(name)
        if unit is None:
            return f"Failed to {verb} {name}.service: Unit {name}.service not found."
        if verb == "enable":
            unit.enabled = True
        elif verb == "disable":
            unit.enabled = False
        elif verb in ("start", "restart") or (verb == "reload-or-restart"):
            if verb == "start" and unit.active:
                return None
            unit.environment = dict(unit.loaded_env)
            if unit.active:
                unit.restarts += 1
            unit.active, unit.since = True, time.time()
        elif verb == "stop":
            unit.active = False
        else:
            return f"Unknown command verb {verb}."
        self.changed()
        return None


def systemd_router(units: Units) -> Router:
    """What the node's fake systemctl asks of the simulator (its stand-in for D-Bus)."""
    r = Router()

    def reload(req: Request) -> Response:
        units.daemon_reload()
        return json_response({})

    async def act(req: Request) -> Response:
        # starting or stopping opens or closes listeners on this very loop: a thread
        error = await asyncio.to_thread(units.act, req.params["name"], req.params["verb"])
        return json_response({"error": error}, 400 if error else 200)

    def show(req: Request) -> Response:
        unit = units.get(req.params["name"].removesuffix(".service"))
        if unit is None:
            return json_response({"error": "not found"}, 404)
        return json_response(unit.show())

    r.add("POST", "/daemon-reload", reload)
    r.add("POST", "/units/:name/:verb", act)
    r.add("GET", "/units/:name", show)
    return r
