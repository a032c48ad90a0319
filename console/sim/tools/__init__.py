"""Fake node tools, run inside a node's sandbox through small shims in its bin/.

Each reads and writes only its own sandbox (`$HOME/.sim`), never the real system.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

# bin name -> (module under console.sim.tools, leading arguments, environment); a module
# None is a plain sh script `<name>.sh` here, for tools as cheap as the real ones
TOOLS: dict[str, tuple[str | None, str, str]] = {
    "nvidia-smi": ("nvidia_smi", "", ""),
    "hl-smi": ("hl_smi", "", ""),  # an Intel Gaudi node's, in place of nvidia-smi
    "amd-smi": ("amd_smi", "", ""),  # an AMD node's
    "inferenced": ("inferenced", "", ""),
    "ufw": ("ufw", "", ""),
    "hf": ("hf", "", ""),
    "huggingface-cli": ("hf", "", ""),
    "docker": ("docker", "", ""),
    # the standalone binary: works where the `docker compose` plugin is not installed
    "docker-compose": ("docker", "compose ", "FLEETDECK_SIM_STANDALONE_COMPOSE=1 "),
    "apt-get": ("apt_get", "", ""),
    "df": (None, "", ""),
    "sudo": (None, "", ""),
    "dmesg": (None, "", ""),
    "journalctl": (None, "", ""),
    "systemctl": ("systemctl", "", ""),
    "ollama": ("ollama", "", ""),
    "nvidia-ctk": ("nvidia_ctk", "", ""),
    # not a node's command: the stand-in Ollama installer's second half (ollama_install.sh)
    "ollama-setup": ("ollama_setup", "", ""),
    # a Golem provider's tools, in the provider user's ~/.local/bin (its installer's)
    "golemsp": ("golem_cli", "golemsp ", ""),
    "yagna": ("golem_cli", "yagna ", ""),
    "ya-provider": ("golem_cli", "ya-provider ", ""),
    "golem-setup": ("golem_setup", "", ""),
    "useradd": (None, "", ""),
    "id": (None, "", ""),
}
# put in place by an installer, not there from the start; and where each goes (bin/ else)
INSTALLED_LATER = {"ollama", "nvidia-ctk", "golemsp", "yagna", "ya-provider"}
# each vendor's device tools: a node has those of its devices' vendor only
VENDOR_TOOLS = {"nvidia": ("nvidia-smi",), "gaudi": ("hl-smi",), "amd": ("amd-smi",)}
PLACES = {"ollama-setup": ".sim", "golem-setup": ".sim"}
PLACES |= {tool: ".local/bin" for tool in ("golemsp", "yagna", "ya-provider")}
PROJECT_ROOT = Path(__file__).resolve().parents[3]
# a shell front before the Python program, for a call as cheap as the real tool's (the
# calls a deploy or the probe makes most often)
FRONTS = {
    "hl-smi": "hl_smi_front.sh",
    "nvidia-smi": "nvidia_smi_front.sh",
    "docker": "docker_front.sh",
}


def plain_python() -> str:
    """The interpreter a node's tools and python3 run on: the distribution's (it starts
    fastest, with no site hooks), else the one this virtualenv was made from; not this
    virtualenv's, whose editable-install hook costs each start ~15 ms that a real node's
    tool does not pay, thousands of times in a deploy. The tools are stdlib only."""
    system = "/usr/bin/python3"
    base = system if os.access(system, os.X_OK) else getattr(sys, "_base_executable", "")
    return os.path.realpath(base or sys.executable)


def install(home: Path, tool: str) -> None:
    """Write one fake tool into the node sandbox's bin/ (the fake apt-get uses it too)."""
    module, lead, env = TOOLS[tool]
    path = home / PLACES.get(tool, "bin") / tool
    path.parent.mkdir(parents=True, exist_ok=True)
    if module is None:
        path.write_text((Path(__file__).parent / f"{tool}.sh").read_text())
    else:
        python, root = shlex.quote(plain_python()), shlex.quote(str(PROJECT_ROOT))
        # lib/python first: its sitecustomize is the node's own network (node_network.py)
        site = shlex.quote(str(home / "lib" / "python"))
        front = (Path(__file__).parent / FRONTS[tool]).read_text() if tool in FRONTS else ""
        # its main() called, not `-m`: runpy's imports cost each start ~5 ms
        run = shlex.quote(
            f"import sys; from console.sim.tools.{module} import main; sys.exit(main(sys.argv[1:]))"
        )
        path.write_text(
            f"#!/bin/sh\n{front}{env}PYTHONPATH={site}:{root}"
            f'"${{PYTHONPATH:+:$PYTHONPATH}}" '
            f'exec {python} -c {run} {lead}"$@"\n'
        )
    path.chmod(0o755)


def sim_dir() -> Path:
    """The node's simulator state directory."""
    explicit = os.environ.get("FLEETDECK_SIM_DIR")
    return Path(explicit) if explicit else Path(os.environ.get("HOME", ".")) / ".sim"


def option(args: list[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` in a tool's arguments."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None
