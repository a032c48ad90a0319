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
