"""Observations: what a status source saw of a node, when, and which source it was.

Every source (the SSH probe stream and its HTTP collectors; Prometheus and a stack's own
metrics, console/core/monitor/sources.py; a recording being replayed) hands observations to the
one Tracker, which owns the node states, staleness and alerts. An observation is plain
JSON-able data, so a recording is a file of them (`fleetdeck status --record`,
`fleetdeck replay`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from console.core.monitor.readings import Reading, read


class Kind(StrEnum):
    """What an observation says; its text is what a recording stores."""

    PROBE = "probe"  # data: the probe's JSON line, as the node printed it
    UNREACHABLE = "unreachable"  # data: {"error": why, "host_key_changed": bool}
    COLLECTED = "collected"  # data: {"chain"?, "chain_at"?, "chain_error"?, "services"?}
    # a source's reading of some signals: probe-shaped data for the ones it carries ("gpus",
    # "events", "driver"), with "signals" (their names), "taken" (when the source took them: a
    # scrape's time, not this machine's reading of it) and "interval" (how often it does)
    METRICS = "metrics"
    # a source sees the node's exporter or service gone (Prometheus `up == 0`, `mlnode_up ==
    # 0`): data {"error": why, "down"?: true where the source says the node is down, not
    # just silent}; its values stay, stale
    SILENT = "silent"


PROBE, UNREACHABLE, COLLECTED = Kind.PROBE, Kind.UNREACHABLE, Kind.COLLECTED
METRICS, SILENT = Kind.METRICS, Kind.SILENT


@dataclass(frozen=True)
class Observation:
    """What a source saw of a node at a moment. Made by the source, it reads its data then
    (`reading`, typed; readings.py): data that cannot be read is a ReadingError in the
    source that made it, and the tracker takes only what could be."""

    node: str
    at: float  # when it was observed, on this machine's clock
    source: str  # "ssh", "replay", ...
    kind: str  # a Kind
    data: dict[str, Any] = field(default_factory=dict)  # as the source gave it (recorded)
    reading: Reading = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reading", read(self.kind, self.data))

    def to_json(self) -> str:
        return json.dumps(
            {
                "node": self.node,
                "at": self.at,
                "source": self.source,
                "kind": self.kind,
                "data": _plain(self.data),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, line: str, source: str | None = None) -> Observation:
        doc = json.loads(line)
        return cls(
            str(doc["node"]),
            float(doc["at"]),
            source or str(doc.get("source", "")),
            str(doc["kind"]),
            doc.get("data") or {},
        )


def _plain(value: Any) -> Any:
    """Dataclasses (chain, services) as dicts, for JSON."""
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
