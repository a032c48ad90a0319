"""The garbage collector and the C allocator, tuned for a long-lived console process."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def quiet_collector() -> None:
    """A fleet snapshot is ~100k short-lived objects a second; with the default thresholds
    the collector ran ~9 times per refresh of a 1,000-node screen, on the UI thread
    (bench_console: refresh p95 93-220 ms before, ~83 ms after). What exists once the
    console is up lives as long as it does, so it is kept out of the collector's scans.
    Once per process: garbage is collected first, so nothing dead is frozen."""
    global _COLLECTOR_TUNED
    if _COLLECTOR_TUNED:
        return
    _COLLECTOR_TUNED = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


_COLLECTOR_TUNED = False


# glibc's mallopt parameter: how many malloc arenas threads may spread over
M_ARENA_MAX = -8


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def few_arenas() -> None:
    """glibc gives threads that allocate arenas of their own, up to eight per core; the
    live pipeline's few hundred threads (a forward and its tunnels per node) spread small
    allocations over all of them, and the process grew by ~1.5 MiB a minute at 100 nodes
    while its Python objects did not (tracemalloc in bench_pipeline). Two arenas keep it
    flat. A no-op off glibc; best called before the threads start."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_ARENA_MAX, 2)


def give_back_memory() -> None:
    """Return the allocator's free pages to the system (glibc's malloc_trim)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
