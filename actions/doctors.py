"""Registration doctors, per stack: what `fleetdeck doctor` and the console's registration
panel run for a cluster, and on which of its nodes' roles (the one that sees the chain)."""

from __future__ import annotations

from actions.registry import STACK_ACTIONS
from actions.stacks.gonka_doctor import UNKNOWN, Finding
from actions.types import Doctor

DOCTORS: dict[str, Doctor] = {n: t.doctor for n, t in STACK_ACTIONS.items() if t.doctor}

__all__ = ["DOCTORS", "UNKNOWN", "Doctor", "Finding"]
