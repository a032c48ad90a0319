"""The simulated Ollama schedules as the real server: OLLAMA_NUM_PARALLEL at once,
OLLAMA_MAX_QUEUE waiting, 503 past that; a waiting request whose client left is dropped."""

from __future__ import annotations

import asyncio

from console.sim.ollama import OllamaHost, keep_alive_seconds


def test_one_at_a_time_then_the_queue_then_busy(tmp_path):
    host = OllamaHost(tmp_path)
    env = {"OLLAMA_NUM_PARALLEL": "1", "OLLAMA_MAX_QUEUE": "2"}

    async def five() -> list:
        jobs = []
        for _ in range(5):
            jobs.append(asyncio.ensure_future(host.generate(env, 0.05)))
            await asyncio.sleep(0)  # each arrives in turn, as requests do
        return await asyncio.gather(*jobs)

    # one runs, two wait, the last two are refused at once (the caller answers 503)
    assert asyncio.run(five()) == [True, True, True, False, False]


def test_parallel_requests_run_together(tmp_path):
    host = OllamaHost(tmp_path)

    async def peak(parallel: str) -> int:
        """The most generations under way at once, of eight sent together."""
        most = 0

        async def watch() -> None:
            nonlocal most
            while True:
                most = max(most, host.running)
                await asyncio.sleep(0.005)

        watcher = asyncio.ensure_future(watch())
        env = {"OLLAMA_NUM_PARALLEL": parallel}
        await asyncio.gather(*(host.generate(env, 0.05) for _ in range(8)))
        watcher.cancel()
        return most

    assert asyncio.run(peak("1")) == 1  # one after another
    assert asyncio.run(peak("8")) == 8  # one batch


def test_a_queued_request_whose_client_left_is_dropped(tmp_path):
    host = OllamaHost(tmp_path)
    env = {"OLLAMA_NUM_PARALLEL": "1"}

    async def run() -> list:
        first = asyncio.ensure_future(host.generate(env, 0.4))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(host.generate(env, 0.05, gone=lambda: True))
        return await asyncio.gather(first, second)

    assert asyncio.run(run()) == [True, None]
    assert host.waiting == 0 and host.running == 0


def test_keep_alive_durations():
    assert keep_alive_seconds("5m") == 300
    assert keep_alive_seconds("30s") == 30
    assert keep_alive_seconds("1h") == 3600
    assert keep_alive_seconds("-1") > 10**8
    assert keep_alive_seconds(None) == 300
