"""A fake `systemctl` for simulated nodes: daemon-reload, enable/disable (with --now),
start/stop/restart, is-active, is-enabled and show (-p/--property, --value), asked of the
simulator over the node's `.sim/systemd.sock` (console/sim/units.py)."""

from __future__ import annotations

import json
import os
import sys

from console.sim.tools import sim_dir
from console.sim.tools.unixhttp import request

VERBS = ("start", "stop", "restart", "reload-or-restart", "enable", "disable")
CHANGING = VERBS + ("daemon-reload",)


def ask(method: str, path: str) -> tuple[int, object]:  # object: typing's import costs ~3 ms
    status, data = request(str(sim_dir() / "systemd.sock"), method, path, timeout=10)
    return status, json.loads(data or b"null")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    props: list[str] = []
    value_only = now = False
    words: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-p", "--property") and i + 1 < len(args):
            props += args[i + 1].split(",")
            i += 1
        elif a.startswith("--property="):
            props += a.split("=", 1)[1].split(",")
        elif a == "--value":
            value_only = True
        elif a == "--now":
            now = True
        elif not a.startswith("-"):
            words.append(a)
        i += 1
    if not words:
        print("systemctl: a command is needed", file=sys.stderr)
        return 1
    verb, names = words[0], [n.removesuffix(".service") for n in words[1:]]
    if verb == "show" and not names:  # the manager's own properties
        # where this node's unit files go: inside its sandbox, never this machine's /etc
        unit_path = str(sim_dir() / "root" / "etc" / "systemd" / "system")
        for key in props or ["UnitPath"]:
            value = unit_path if key == "UnitPath" else ""
            print(value if value_only else f"{key}={value}")
        return 0
    root = os.geteuid() == 0 or os.environ.get("FLEETDECK_SIM_ROOT")
    if verb in CHANGING and not root:
        print("Failed to connect to bus: Access denied (run it with sudo)", file=sys.stderr)
        return 1
    if verb == "daemon-reload":
        ask("POST", "/daemon-reload")
        return 0
    if verb in VERBS:
        todo = [verb] + (["start" if verb == "enable" else "stop"] if now else [])
        for name in names:
            for v in todo:
                status, body = ask("POST", f"/units/{name}/{v}")
                if status != 200:
                    print(body.get("error", "failed"), file=sys.stderr)
                    return 5 if "not found" in str(body) else 1
            if verb == "enable":
                print(
                    f"Created symlink /etc/systemd/system/default.target.wants/{name}.service"
                    f" → /etc/systemd/system/{name}.service.",
                    file=sys.stderr,
                )
        return 0
    if verb in ("is-active", "is-enabled", "show", "status"):
        worst = 0
        for name in names:
            status, shown = ask("GET", f"/units/{name}")
            shown = shown if status == 200 else {}
            if verb == "is-active":
                state = shown.get("ActiveState", "inactive")
                print(state)
                worst = worst or (0 if state == "active" else 3)
            elif verb == "is-enabled":
                if status != 200:
                    print(
                        f"Failed to get unit file state for {name}.service: "
                        "No such file or directory",
                        file=sys.stderr,
                    )
                    worst = worst or 1
                    continue
                print(shown["UnitFileState"])
                worst = worst or (0 if shown["UnitFileState"] == "enabled" else 1)
            elif verb == "status":
                if status != 200:
                    print(f"Unit {name}.service could not be found.", file=sys.stderr)
                    return 4
                print(f"● {name}.service")
                print(f"     Loaded: loaded ({shown['FragmentPath']}; {shown['UnitFileState']})")
                print(f"     Active: {shown['ActiveState']} ({shown['SubState']})")
                worst = worst or (0 if shown["ActiveState"] == "active" else 3)
            else:
                if status != 200:  # systemd shows an unknown unit as not-found, exit 0
                    shown = {"Id": f"{name}.service", "LoadState": "not-found"}
                for key in props or list(shown):
                    value = shown.get(key, "")
                    print(value if value_only else f"{key}={value}")
        return worst
    print(f"Unknown command verb {verb}.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
