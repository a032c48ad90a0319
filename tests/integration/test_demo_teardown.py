"""`fleetdeck demo` leaves nothing behind however its console ends: the terminal closed
(tmux kill-session: SIGHUP), SIGTERM, or the console killed outright (SIGKILL); and a later
demo removes a fleet that a dead console and a dead simulator both left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.sim.control import alive
from tests.harness.terminal import Terminal
from tests.integration.test_sim_cli import listening_sockets, socket_owners

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def start_demo(tmp: Path, term: Terminal) -> tuple[int, Path, dict]:
    """A demo in its own tmux session, its fleet under `tmp`: (console pid, dir, ready)."""
    cmd = f"exec env TMPDIR={tmp} {sys.executable} -m console.app.cli demo"
    term.start(cmd, cwd=REPO, width=120)
    term.wait_for("up 17/17", 90)
    pid = term.pane_pid()
    (root,) = [p for p in tmp.glob("fleetdeck-demo-*") if (p / "ready").exists()]
    return pid, root, json.loads((root / "ready").read_text())


def processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def assert_nothing_left(root: Path, ready: dict, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (alive(ready["pid"]) or root.exists()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(ready["pid"]), "the simulated fleet outlived its console"
    assert not root.exists(), f"{root} is left: {sorted(p.name for p in root.iterdir())}"
    assert processes_mentioning(str(root)) == []
    prefixes = (f"127.{ready['block']}.", f"127.{ready['block'] + 1}.")
    # a fleet of a test beside this one may claim the freed block, or be closing on it,
    # while we look: what stays listening, owned by no other fleet, is what was left
    left = [x for prefix in prefixes for x in left_listening(prefix, root)]
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [x for prefix in prefixes for x in left_listening(prefix, root)]
    assert left == []


def left_listening(prefix: str, root: Path) -> list[str]:
    """Listeners on the fleet's loopback block but those of another simulated fleet (of a
    test beside this one: a simulator daemon, or a fleet inside another pytest worker) that
    claimed the block once this fleet had freed it."""
    left = []
    for endpoint, inode in listening_sockets(prefix):
        owners = socket_owners(inode)
        others = [pid for pid in owners if another_tests(pid, root)]
        if not owners or others != owners:
            held = [cmdline(pid).replace(b"\0", b" ").decode(errors="replace") for pid in owners]
            left.append(f"{endpoint} held by {held}")
    return left


def another_tests(pid: int, root: Path) -> bool:
    line = cmdline(pid)
    if str(root).encode() in line:
        return False  # the demo's own
    return b"console.sim.daemon" in line or XDIST_WORKER in line


XDIST_WORKER = b"exec(eval(sys.stdin.readline()))"  # how execnet starts a pytest-xdist worker


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def ended(pid: int, timeout: float = 10) -> bool:
    """The console ends soon after its fleet: its last-resort exit comes `grace` seconds
    after a signal, and teardown may run just before it."""
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


@pytest.fixture
def term():
    term = Terminal("fd-teardown")
    yield term
    term.stop()


def test_closing_the_terminal_stops_the_demo_fleet(short_tmp, term):
    console, root, ready = start_demo(short_tmp, term)
    term.close()  # the pane's process gets SIGHUP, as a closed window
    assert_nothing_left(root, ready)
    assert ended(console)


def test_sigterm_stops_the_demo_fleet(short_tmp, term):
    console, root, ready = start_demo(short_tmp, term)
    os.kill(console, signal.SIGTERM)
    assert_nothing_left(root, ready)
    assert ended(console)


def test_a_killed_console_takes_its_fleet_with_it(short_tmp, term):
    console, root, ready = start_demo(short_tmp, term)
    os.kill(console, signal.SIGKILL)  # no handler runs: the simulator notices by itself
    assert_nothing_left(root, ready)


def test_the_next_demo_removes_what_a_dead_console_and_simulator_left(short_tmp, term):
    console, root, ready = start_demo(short_tmp, term)
    os.kill(ready["pid"], signal.SIGKILL)  # the simulator first: nothing can clean up
    os.kill(console, signal.SIGKILL)
    term.close()
    assert term.gone(10)
    assert (root / "control.sock").exists() and (root / "owner").exists()  # left behind
    second, root2, ready2 = start_demo(short_tmp, term)
    assert root2 != root
    assert not root.exists(), "the next demo did not remove the fleet left behind"
    assert (
        "removed the simulated fleet a closed demo left in" in term.screen(history=100)
        or not root.exists()
    )
    term.keys("q")
    assert_nothing_left(root2, ready2, timeout=30)


HUNG_EXIT = """
import sys, threading, time
sys.path.insert(0, {repo!r})
from console.app.cli.console import run_then_tear_down

class App:  # the console's app, as far as its run and a signal see it
    def run(self):
        # a worker that does not end (an SSH connect to a fleet just stopped): the
        # interpreter's own exit joins it
        threading.Thread(target=time.sleep, args=(3600,)).start()
        print("ready", flush=True)
        quit.wait()

    def exit(self, return_code):
        quit.set()

quit, torn = threading.Event(), []

def teardown():
    if not torn:
        torn.append(True)
        print("torn down", flush=True)

run_then_tear_down(App(), teardown, grace=1.0)
sys.exit(129)
"""


def test_a_closed_terminal_ends_the_console_even_when_its_exit_hangs_on_a_thread():
    proc = subprocess.Popen(
        [sys.executable, "-c", HUNG_EXIT.format(repo=str(REPO))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=30) == 128 + signal.SIGHUP
        assert proc.stdout.read() == "torn down\n"  # once, and then the last resort ended it
    finally:
        proc.kill()
        proc.wait()
