"""Client side of `fleetdeck sim`: start the daemon, talk to its control socket, stop it.

A fleet may have an owner (the `fleetdeck demo` console): the daemon stops, and removes its
directory, when that process is gone, however it ended (SIGHUP when the terminal closed,
SIGKILL, a crash); and `leftovers()` finds the fleets of owners that died while their
daemon could not clean up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from console.sim.tools.unixhttp import request as unix_request


class SimError(Exception):
    pass


def alive(pid: int) -> bool:
    """True while pid runs; an exited process that nobody reaped yet (a zombie, as under a
    container's init) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def started(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot, /proc/PID/stat field 22): with the pid it
    names one process, not a later one that reuses its number."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_token(pid: int) -> str:
    return f"{pid}:{started(pid) or ''}"


def owner_alive(token: str) -> bool:
    """Whether the process a token of owner_token() names still runs."""
    pid, _, start = token.partition(":")
    if not pid.isdigit() or not alive(int(pid)):
        return False
    return not start or started(int(pid)) == start


def leftovers(parent: Path, prefix: str) -> list[Path]:
    """Fleet directories under `parent` named `prefix…` (made for their owner: removed with
    it) whose owner is gone: stop each daemon still running there and remove the
    directory. The removed ones are returned."""
    removed = []
    for root in sorted(parent.glob(prefix + "*")):
        owner = root / "owner"
        try:
            token = owner.read_text().strip()
        except OSError:
            continue  # not a directory an owned fleet wrote: not ours to remove
        if owner_alive(token):
            continue
        down(root)
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


def pid_of(root: Path) -> int | None:
    try:
        pid = int((root / "pid").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def up(
    profile: str,
    root: Path,
    block_time: float = 1.0,
    fresh: bool = False,
    timeout: float = 120,
    owner: int | None = None,
    remove: bool = False,
    epoch_blocks: int = 240,
) -> dict:
    """Start a fleet in `root`. With `owner` (a pid), the daemon stops once that process is
    gone, and with `remove` it then removes `root` too."""
    root = root.resolve()
    if pid_of(root):
        raise SimError(f"a simulated fleet already runs in {root} (fleetdeck sim down {root})")
    root.mkdir(parents=True, exist_ok=True)
    for stale in ("ready", "error"):
        (root / stale).unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "console.sim.daemon",
        profile,
        str(root),
        "--block-time",
        str(block_time),
        "--epoch-blocks",
        str(epoch_blocks),
    ] + (["--fresh"] if fresh else [])
    if owner is not None:
        (root / "owner").write_text(owner_token(owner))
        cmd += ["--owned"] + (["--remove"] if remove else [])
    # a Ctrl-C while the fleet is spawned would leave it starting with nobody to stop it:
    # held off until `proc` is there to be stopped (the daemon unblocks it for itself)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with open(root / "sim.log", "ab") as log:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    try:
        # unblocked inside the try: a Ctrl-C held meanwhile is raised here, and handled
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return _wait_ready(root, proc, timeout)
    except KeyboardInterrupt:
        # the operator gave up on it: stop what was starting, not leave it to finish
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        (root / "pid").unlink(missing_ok=True)
        raise


def _wait_ready(root: Path, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (root / "ready").exists():
            return json.loads((root / "ready").read_text())
        if proc.poll() is not None:
            error = (
                (root / "error").read_text()
                if (root / "error").exists()
                else (root / "sim.log").read_text()[-2000:]
            )
            raise SimError(f"the simulated fleet did not start:\n{error}")
        time.sleep(0.1)
    proc.kill()
    raise SimError(
        f"the simulated fleet did not answer within {timeout:.0f} s; see {root / 'sim.log'}"
    )


def request(root: Path, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
    sock = root.resolve() / "control.sock"
    if not sock.exists() or not pid_of(root.resolve()):
        raise SimError(f"no simulated fleet runs in {root} (start one with fleetdeck sim up)")
    payload = json.dumps(body).encode() if body is not None else None
    try:
        status, answer = unix_request(str(sock), method, path, payload, timeout=timeout)
        data = json.loads(answer or b"null")
    except (OSError, ValueError) as exc:
        raise SimError(f"cannot reach the simulated fleet in {root}: {exc}") from None
    if status >= 400:
        raise SimError(data.get("error", f"error {status}"))
    return data


def down(root: Path, timeout: float = 20) -> bool:
    """Stop the fleet in root; True if one was running."""
    root = root.resolve()
    pid = pid_of(root)
    if pid is None:
        return False
    try:
        request(root, "POST", "/shutdown")
    except SimError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    (root / "pid").unlink(missing_ok=True)
    return True
