"""A fake `apt-get` for simulated nodes: `update`, and `install` of the packages a deploy
asks for, which puts the node's fake tool in place (never the real package manager).

Packages: ufw, docker.io (the docker CLI), docker-compose-v2 (the `docker compose` plugin),
nvidia-container-toolkit (nvidia-ctk, which registers the runtime with docker),
and git and python3, which every simulated node already has. What was installed is kept in
`.sim/apt.json` for tests to read.
"""

from __future__ import annotations

import json
import os
import sys

from console.sim.tools import install, sim_dir

# package -> the fake tools it brings (None: the compose plugin, a marker the docker tool reads)
PACKAGES: dict[str, tuple[str | None, ...]] = {
    "ufw": ("ufw",),
    "docker.io": ("docker",),
    "docker-compose-v2": (None,),
    "nvidia-container-toolkit": ("nvidia-ctk",),
    "git": (),
    "python3": (),
}
NO_COMPOSE_PLUGIN = "no-compose-plugin"  # in .sim/: `docker compose` is not installed


def main(argv: list[str] | None = None) -> int:
    args = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    if not args:
        print("E: Invalid operation", file=sys.stderr)
        return 100
    # as the real one: installing takes root (the deploy uses sudo, the node's fake one)
    if os.geteuid() != 0 and not os.environ.get("FLEETDECK_SIM_ROOT"):
        print("E: Could not open lock file /var/lib/dpkg/lock-frontend", file=sys.stderr)
        return 100
    command, packages = args[0], args[1:]
    if command == "update":
        print("Reading package lists... Done")
        return 0
    if command != "install":
        print(f"E: Invalid operation {command}", file=sys.stderr)
        return 100
    unknown = [p for p in packages if p not in PACKAGES]
    if unknown:
        print(f"E: Unable to locate package {unknown[0]}", file=sys.stderr)
        return 100
    home = sim_dir().parent
    for package in packages:
        for tool in PACKAGES[package]:
            if tool is None:
                (sim_dir() / NO_COMPOSE_PLUGIN).unlink(missing_ok=True)
            else:
                install(home, tool)
        print(f"Setting up {package} ...")
    record = sim_dir() / "apt.json"
    done = json.loads(record.read_text()) if record.exists() else []
    record.write_text(json.dumps(done + packages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
