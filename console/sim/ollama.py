"""Ollama installed on a simulated node's host (operations.md §5): its version, the models
pulled, and how it schedules requests, as the real server does under load.

The real server runs OLLAMA_NUM_PARALLEL generations at once (1 by default), queues up to
OLLAMA_MAX_QUEUE more (512) and answers 503 "server busy" past that; a request waits in the
queue for as long as it takes. So 100 concurrent requests against the defaults are served
one at a time, and the last ones wait seconds: what the load test must see.

The installer (console/sim/tools/ollama_install.sh, what the profile's `ollama_install_url`
points at in tests) runs `ollama_setup` on the node: the `ollama` binary (the fake CLI),
the unit file the real install script writes, and the service started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from console.core.atomic import atomic_write_text

# what a simulated fleet's profile installs from (file://, read by the node's real curl)
INSTALLER = "file://" + str(Path(__file__).with_name("tools") / "ollama_install.sh")
LATEST = "0.12.6"  # what the stand-in installer installs when no version is pinned
UNIT = "ollama"
DEFAULTS = {
    "OLLAMA_HOST": "127.0.0.1:11434",
    "OLLAMA_NUM_PARALLEL": "1",
    "OLLAMA_MAX_QUEUE": "512",
    "OLLAMA_KEEP_ALIVE": "5m",
}
BUSY = "server busy, please try again.  maximum pending requests exceeded"
GENERATION_S = 0.04  # one short generation, alone on the GPU
BATCH_SLOWDOWN = 8  # each request in a batch of this many costs one more GENERATION_S


def unit_text(bindir: str = "/usr/local/bin") -> str:
    """The unit file Ollama's install script writes."""
    return (
        "[Unit]\n"
        "Description=Ollama Service\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        f"ExecStart={bindir}/ollama serve\n"
        "User=ollama\n"
        "Group=ollama\n"
        "Restart=always\n"
        "RestartSec=3\n"
        'Environment="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\n\n'
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def model_size(name: str) -> int:
    """A model's size in bytes, as Ollama's library gives it (by its parameter count)."""
    tag = name.split(":")[-1].lower()
    for params, size in (("70b", 42_520_000_000), ("32b", 19_850_000_000), ("8b", 4_920_000_000)):
        if params in tag:
            return size
    return 2_020_000_000


class OllamaHost:
    def __init__(self, home: Path) -> None:
        self.state = home / ".sim" / "ollama"
        self.loaded: dict[str, float] = {}  # model -> until when it stays in memory
        self.running = 0  # generations under way
        self.waiting = 0  # requests in the queue
        self._slots: asyncio.Semaphore | None = None
        self._slots_for = 0

    # -- what is installed
    @property
    def version(self) -> str | None:
        path = self.state / "version"
        return path.read_text().strip() if path.exists() else None

    def install(self, version: str) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.state / "version", version + "\n")

    @property
    def models(self) -> list[str]:
        path = self.state / "models.json"
        try:
            return list(json.loads(path.read_text()))
        except (OSError, ValueError):
            return []

    def pull(self, model: str) -> None:
        have = self.models
        if model not in have:
            self.state.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.state / "models.json", json.dumps([*have, model]))

    def load(self, model: str, keep_alive_s: float) -> None:
        self.loaded[model] = time.time() + keep_alive_s

    def in_memory(self) -> list[str]:
        now = time.time()
        return [m for m, until in self.loaded.items() if until > now]

    # -- scheduling
    async def generate(
        self, env: dict[str, str], seconds: float, gone: Callable[[], bool] = lambda: False
    ) -> bool | None:
        """Run one generation of about `seconds` as the server would schedule it; False
        when the queue is full (the caller answers 503), None when the client left while
        it waited (as Ollama's scheduler drops a request whose context is done)."""
        parallel = max(1, int(env.get("OLLAMA_NUM_PARALLEL") or 1))
        queue = max(0, int(env.get("OLLAMA_MAX_QUEUE") or 512))
        if self._slots is None or self._slots_for != parallel:
            self._slots, self._slots_for = asyncio.Semaphore(parallel), parallel
        slots = self._slots
        if self.running >= parallel and self.waiting >= queue:
            return False
        self.waiting += 1
        # one acquire that keeps its place in line (Ollama's queue is first come, first
        # served): cancelling and retrying it every tick sent each waiter to the back
        acquire = asyncio.ensure_future(slots.acquire())
        try:
            while True:
                done, _ = await asyncio.wait({acquire}, timeout=0.25)
                if done:
                    break
                if gone():
                    acquire.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await acquire
                    if not acquire.cancelled():  # it got the slot as it was cancelled
                        slots.release()
                    return None
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            batch = 1 + (self.running - 1) / BATCH_SLOWDOWN
            await asyncio.sleep(seconds * batch * random.uniform(0.9, 1.1))  # noqa: S311
        finally:
            self.running -= 1
            slots.release()
        return True


def keep_alive_seconds(value: str | None) -> float:
    """OLLAMA_KEEP_ALIVE / keep_alive: "5m", "30s", "1h", a number of seconds, -1 forever."""
    text = (value or "5m").strip()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text[-1:] in units:
            return float(text[:-1]) * units[text[-1]]
        seconds = float(text)
    except ValueError:
        return 300.0
    return 10.0**9 if seconds < 0 else seconds
