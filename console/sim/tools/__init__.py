"""Fake node tools, run inside a node's sandbox through small shims in its bin/.

Each reads and writes only its own sandbox (`$HOME/.sim`), never the real system.
"""

from __future__ import annotations

import os
from pathlib import Path


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
