"""Device events out of metric values, which hold them in one of two ways: a gauge of the
last event a device raised (an exporter's last error code), or a counter per device and code
counting each. An event is the gauge changing to a non-zero value, or a counter rising, at
the time the value was taken (the same probe-shaped {"t", "gpu", "code", "vendor"} the SSH
probe gives). The first value seen is the baseline, not an event: a counter's lifetime
total, or the gauge's code from last month, says nothing of when (Prometheus's
`increase()` reads them so too)."""

from __future__ import annotations


class EventWatch:
    def __init__(self, vendor: str) -> None:
        self.vendor = vendor  # whose events these values count
        self._last: dict[tuple, float] = {}
        self._nodes: set[str] = set()  # nodes read once: a new counter of theirs is news

    def read(self, node: str) -> None:
        """Call once a node's reading is done: from then on, a counter it did not have
        before (its first event of that code) is an event, not a baseline."""
        self._nodes.add(node)

    def _event(self, at: float, gpu: int | None, code: int) -> dict:
        return {"t": at, "gpu": gpu, "code": code, "vendor": self.vendor}

    def last(self, node: str, gpu: int | None, value: float, at: float) -> list[dict]:
        key = (node, gpu)
        seen = key in self._last
        before = self._last.get(key)
        self._last[key] = value
        if seen and value and value != before:
            return [self._event(at, gpu, int(value))]
        return []

    def total(self, node: str, gpu: int | None, code: int, count: float, at: float) -> list[dict]:
        key = (node, gpu, code)
        if key in self._last:
            before: float | None = self._last[key]
        else:  # a counter new to a node read before counts from zero; else a baseline
            before = 0.0 if node in self._nodes else None
        self._last[key] = count
        if before is not None and count > before:  # one that went down was reset
            return [self._event(at, gpu, code)]
        return []
