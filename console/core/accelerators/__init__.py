"""The accelerator vendors fleetdeck reads, one adapter each (base.py says what one holds):
NVIDIA, Intel Gaudi, AMD Instinct. A node may carry devices of several; each device's
reading names its vendor."""

from __future__ import annotations

from console.core.accelerators.amd import AMD
from console.core.accelerators.base import Accelerator
from console.core.accelerators.gaudi import GAUDI
from console.core.accelerators.nvidia import NVIDIA
from console.core.monitor.runbooks import Runbook

ACCELERATORS: dict[str, Accelerator] = {a.name: a for a in (NVIDIA, GAUDI, AMD)}
# the vendor of a reading that names none: probe lines from before the seam (recordings)
UNNAMED = next(a for a in ACCELERATORS.values() if a.legacy_events)


def of(vendor: str | None) -> Accelerator:
    """The adapter of a device's vendor (a reading without one is from before the seam)."""
    return ACCELERATORS.get(vendor or "", UNNAMED)


def runbook(kind: str) -> Runbook | None:
    """A vendor's runbook for alert `kind` (its base, before any ':')."""
    base = kind.split(":")[0]
    for accelerator in ACCELERATORS.values():
        if base in accelerator.runbooks:
            return accelerator.runbooks[base]
    return None
