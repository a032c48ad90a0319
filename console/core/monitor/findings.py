"""What an alert rule finds, before the tracker stamps when it was first seen. Its own
module: the stacks' rules (console/core/stacks/) make findings too, and the generic rules
(alerts.py) ask the stacks for theirs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """An alert before the monitor stamps when it was first seen."""

    kind: str  # stable id: "gpu_hot", "container_restarting", ... (+ ":detail" for many)
    severity: str
    summary: str
    evidence: str
    next_step: str
