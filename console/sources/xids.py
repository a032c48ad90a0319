"""Xid events out of metric values, which hold them in one of two ways: dcgm-exporter's
`DCGM_FI_DEV_XID_ERRORS` is a gauge of the last Xid a GPU raised; a counter per GPU and
Xid counts each. An event is the gauge changing to a non-zero value, or a counter rising,
at the time the value was taken (the same probe-shaped {"t", "gpu", "xid"} the SSH probe
gives)."""

from __future__ import annotations


class XidWatch:
    def __init__(self) -> None:
        self._last: dict[tuple, float] = {}

    def last(self, node: str, gpu: int | None, value: float, at: float) -> list[dict]:
        key = (node, gpu)
        before = self._last.get(key)
        self._last[key] = value
        if value and value != before:
            return [{"t": at, "gpu": gpu, "xid": int(value)}]
        return []

    def total(self, node: str, gpu: int | None, xid: int, count: float, at: float) -> list[dict]:
        key = (node, gpu, xid)
        before = self._last.get(key, 0.0)
        self._last[key] = count
        if count > before:  # a counter that went down was reset (its exporter restarted)
            return [{"t": at, "gpu": gpu, "xid": xid}]
        return []
