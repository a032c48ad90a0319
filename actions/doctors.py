"""Registration doctors, per stack: what `fleetdeck doctor` and the console's registration
panel run for a cluster, and on which of its nodes' roles (the one that sees the chain)."""

from __future__ import annotations

from actions.registry import STACK_ACTIONS
from actions.stacks.gonka_doctor import UNKNOWN, Finding
from actions.types import Doctor


def doctor_of(stack: str) -> Doctor | None:
    """The stack's registration doctor, read from the registry when asked."""
    table = STACK_ACTIONS.get(stack)
    return table.doctor if table is not None else None


__all__ = ["UNKNOWN", "Doctor", "Finding", "doctor_of"]
