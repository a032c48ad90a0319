"""Start-up at scale: a probe's first line gets a longer grace than the steady silence
limit, and reconnects back off (jittered) instead of storming."""

from __future__ import annotations

import json
import time

from console.core.monitor.monitor import Monitor
from console.core.monitor.ssh_source import BACKOFF_MAX_S
from console.core.profile import loads

PROFILE = """
[fleet]
name = "startup"
stack = "vllm"
[alerts]
probe_interval_s = 0.5
[[clusters]]
name = "c1"
[[clusters.nodes]]
name = "slow"
host = "10.0.0.1"
role = "server"
"""


class SlowStart:
    """A channel whose probe prints its first line only after `delay` seconds (its
    interpreter starting on a loaded node), then a line per interval."""

    def __init__(self, delay: float) -> None:
        self.opened = time.monotonic()
        self.delay = delay
        self.timeout = None
        self.sent = 0
        self.closed = False

    def settimeout(self, t):
        self.timeout = t

    def gettimeout(self):
        return self.timeout

    def recv(self, n):
        due = self.opened + self.delay + self.sent * 0.5
        wait = due - time.monotonic()
        if self.closed:
            return b""
        if self.timeout is not None and wait > self.timeout:
            time.sleep(self.timeout)
            raise TimeoutError
        time.sleep(max(0.0, wait))
        self.sent += 1
        return (
            json.dumps({"v": 1, "seq": self.sent, "t": time.time(), "gpus": []}) + "\n"
        ).encode()

    def close(self):
        self.closed = True

    def recv_stderr_ready(self):
        return False

    def exit_status_ready(self):
        return False


class Pool:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.opens = 0

    def open_stream(self, name, command):
        self.opens += 1
        return SlowStart(self.delay)

    def drop(self, name):
        pass


def test_a_probe_slow_to_print_its_first_line_is_waited_for_not_dropped():
    model = loads(PROFILE, "startup.toml").model
    pool = Pool(delay=3.0)  # more than 2 intervals + 1 s (2 s), less than the first-line grace
    mon = Monitor(model, pool, collect_http=False)  # type: ignore[arg-type]
    mon.start()
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and mon.tracker.node("slow").seen_at is None:
            time.sleep(0.1)
        node = mon.tracker.node("slow")
        assert node.seen_at is not None and node.reachable, node.error
        assert pool.opens == 1  # no reconnect while the probe was starting
    finally:
        mon.stop()


def test_reconnects_back_off_with_jitter_up_to_a_cap():
    model = loads(PROFILE, "startup.toml").model
    mon = Monitor(model, Pool(0), collect_http=False)  # type: ignore[arg-type]
    waits = [mon.ssh._backoff(n) for n in range(1, 12)]
    assert waits[0] <= 0.5 and max(waits) <= min(BACKOFF_MAX_S, 10 * 0.5)
    assert waits[5] > waits[0]  # grows
    spread = {round(mon.ssh._backoff(6), 3) for _ in range(20)}
    assert len(spread) > 5  # jittered: hundreds of nodes do not retry in step


class Counting(Pool):
    """Every node's probe slow to start; counts how many are starting at the same time."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        import threading

        self.lock = threading.Lock()
        self.starting = self.most = 0

    def open_stream(self, name, command):
        pool = self

        class Tracked(SlowStart):
            def recv(self, n):
                first = self.sent == 0
                data = super().recv(n)
                if first and data:
                    with pool.lock:
                        pool.starting -= 1
                return data

        with self.lock:
            self.opens += 1
            self.starting += 1
            self.most = max(self.most, self.starting)
        return Tracked(self.delay)


def test_hundreds_of_nodes_start_in_a_window_that_grows_while_first_lines_come_quickly(
    monkeypatch,
):
    from console.core.monitor import startwindow

    monkeypatch.setattr(startwindow, "INITIAL", 10)
    monkeypatch.setattr(startwindow, "SMALLEST", 4)
    nodes = "".join(
        f'[[clusters.nodes]]\nname = "n{i}"\nhost = "10.0.1.{i}"\nrole = "server"\n'
        for i in range(60)
    )
    model = loads(PROFILE.split("[[clusters.nodes]]")[0] + nodes, "startup.toml").model
    pool = Counting(delay=0.3)
    mon = Monitor(model, pool, collect_http=False)  # type: ignore[arg-type]
    mon.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(
            mon.tracker.node(f"n{i}").seen_at for i in range(60)
        ):
            time.sleep(0.1)
        assert all(mon.tracker.node(f"n{i}").reachable for i in range(60))
        assert pool.opens == 60  # none dropped and retried
        # ten at first; each quick first line while all ten were starting let one more
        # start: more than ten at once, and no wider than the nodes that waited needed
        assert pool.most > 10 and mon.ssh.starts.limit < 10 + 60
        assert mon.ssh.starts.most == pool.most
    finally:
        mon.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_start_window_halves_once_per_round_when_first_lines_come_slowly():
    from console.core.monitor.startwindow import SMALLEST, StartWindow

    clock = Clock()
    window = StartWindow(quick_s=3, slow_s=10, initial=64, clock=clock)
    starts = [window.enter(0) for _ in range(64)]
    assert all(starts) and window.enter(0) is None  # full: the 65th waits
    clock.now = 1
    starts.pop().answered()  # quick: one more may start, and the slot is free
    assert window.limit == 65 and window.busy == 63
    clock.now = 12
    for start in starts[:10]:  # slow, all from the same round: halved once
        start.answered()
    assert window.limit == 32
    later = window.enter(0)
    assert later is None  # 53 still starting, over the new limit
    for start in starts[10:40]:
        start.neutral()  # refused or unreachable: no verdict on the load
    assert window.limit == 32 and window.busy == 23
    later = window.enter(0)
    assert later is not None
    clock.now = 13
    later.silent()  # a start after the halving, silent: halves again
    assert window.limit == 16
    for start in starts[40:]:
        start.silent()  # from the old round: no further halving
    assert window.limit == 16 and window.busy == 0
    quick = window.enter(0)
    quick.answered()  # quick, but the window was not in use: it does not grow
    assert window.limit == 16
    for _ in range(5):
        s = window.enter(0)
        clock.now += 20
        s.silent()
    assert window.limit == SMALLEST  # never below
    s = window.enter(0)
    s.answered()
    s.silent()  # a slot is given back once, whatever is said after
    assert window.busy == 0
