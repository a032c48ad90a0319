"""Xid events out of metric values, which hold them in one of two ways: dcgm-exporter's
`DCGM_FI_DEV_XID_ERRORS` is a gauge of the last Xid a GPU raised; a counter per GPU and
Xid counts each. An event is the gauge changing to a non-zero value, or a counter rising,
at the time the value was taken (the same probe-shaped {"t", "gpu", "xid"} the SSH probe
gives). The first value seen is the baseline, not an event: a counter's lifetime total, or
the gauge's Xid from last month, says nothing of when (Prometheus's `increase()` reads
them so too)."""

from __future__ import annotations


class XidWatch:
    def __init__(self) -> None:
        self._last: dict[tuple, float] = {}
        self._nodes: set[str] = set()  # nodes read once: a new counter of theirs is news

    def read(self, node: str) -> None:
        """Call once a node's reading is done: from then on, a counter it did not have
        before (its first Xid of that kind) is an event, not a baseline."""
        self._nodes.add(node)

    def last(self, node: str, gpu: int | None, value: float, at: float) -> list[dict]:
        key = (node, gpu)
        seen = key in self._last
        before = self._last.get(key)
        self._last[key] = value
        if seen and value and value != before:
            return [{"t": at, "gpu": gpu, "xid": int(value)}]
        return []

    def total(self, node: str, gpu: int | None, xid: int, count: float, at: float) -> list[dict]:
        key = (node, gpu, xid)
        if key in self._last:
            before: float | None = self._last[key]
        else:  # a counter new to a node read before counts from zero; else a baseline
            before = 0.0 if node in self._nodes else None
        self._last[key] = count
        if before is not None and count > before:  # one that went down was reset
            return [{"t": at, "gpu": gpu, "xid": xid}]
        return []
