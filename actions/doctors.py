"""Registration doctors, per stack: what `fleetdeck doctor` and the console's registration
panel run for a cluster, and on which of its nodes' roles (the one that sees the chain)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from actions.engine import NodeContext
from actions.stacks import gonka_doctor
from actions.stacks.gonka_doctor import UNKNOWN, Finding


class Doctor(NamedTuple):
    diagnose: Callable[[NodeContext], list[Finding]]
    role: str  # the node of the cluster it reads through


DOCTORS: dict[str, Doctor] = {"gonka": Doctor(gonka_doctor.diagnose, "network")}

__all__ = ["DOCTORS", "UNKNOWN", "Doctor", "Finding"]
