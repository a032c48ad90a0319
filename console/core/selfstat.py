"""The console's own cost: its CPU (all its threads, as a share of one core) and resident
memory, so an operator sees when fleetdeck, not the fleet, is the problem."""

from __future__ import annotations

import os
import time


def rss_mib() -> float | None:
    """Resident memory of this process in MiB (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class SelfUsage:
    """CPU since the last sample, and memory now."""

    def __init__(self) -> None:
        self._cpu, self._wall = time.process_time(), time.monotonic()

    def sample(self) -> tuple[float, float | None]:
        cpu, wall = time.process_time(), time.monotonic()
        share = 100.0 * (cpu - self._cpu) / max(wall - self._wall, 1e-6)
        self._cpu, self._wall = cpu, wall
        return share, rss_mib()

    def text(self) -> str:
        share, rss = self.sample()
        return f"console {share:.0f}% CPU" + (f" {rss:.0f} MiB" if rss is not None else "")
