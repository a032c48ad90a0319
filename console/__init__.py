"""fleetdeck core: profiles, secrets, SSH, state, monitor, journal, simulator, CLI and app."""

from __future__ import annotations

__version__ = "0.1.0"
