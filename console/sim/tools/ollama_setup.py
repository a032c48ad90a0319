"""The second half of the simulator's stand-in for Ollama's install script
(ollama_install.sh runs it as root): the `ollama` binary (the fake CLI) put in place, the
unit file the real script writes, then, as the real one, `systemctl daemon-reload`,
`enable ollama` and `restart ollama`. It installs OLLAMA_VERSION, else the latest."""

from __future__ import annotations

import os
import sys

from console.core.atomic import atomic_write_text
from console.sim.ollama import LATEST, unit_text
from console.sim.tools import install, sim_dir
from console.sim.tools.systemctl import ask


def main(argv: list[str] | None = None) -> int:
    if os.geteuid() != 0 and not os.environ.get("FLEETDECK_SIM_ROOT"):
        print("ERROR: This script requires superuser permissions.", file=sys.stderr)
        return 1
    version = (os.environ.get("OLLAMA_VERSION") or LATEST).strip()
    home = sim_dir().parent
    print(f">>> Downloading ollama-linux-amd64.tgz (version {version})", file=sys.stderr)
    print(">>> Installing ollama to /usr/local", file=sys.stderr)
    install(home, "ollama")
    (sim_dir() / "ollama").mkdir(parents=True, exist_ok=True)
    atomic_write_text(sim_dir() / "ollama" / "version", version + "\n")
    print(">>> Adding ollama user to render and video groups...", file=sys.stderr)
    print(">>> Creating ollama systemd service...", file=sys.stderr)
    unit = sim_dir() / "root" / "etc" / "systemd" / "system" / "ollama.service"
    unit.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(unit, unit_text())
    print(">>> Enabling and starting ollama service...", file=sys.stderr)
    ask("POST", "/daemon-reload")
    for verb in ("enable", "restart"):
        status, body = ask("POST", f"/units/ollama/{verb}")
        if status != 200:
            print(f"ERROR: {body}", file=sys.stderr)
            return 1
    print(">>> NVIDIA GPU installed.", file=sys.stderr)
    print(">>> The Ollama API is now available at 127.0.0.1:11434.", file=sys.stderr)
    print('>>> Install complete. Run "ollama" from the command line.', file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
