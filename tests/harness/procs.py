"""Small helpers shared by the harness: free ports, waiting, stopping by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    proc: subprocess.Popen | None = None,
    log: str | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    detail = ""
    if log and os.path.exists(log):
        with open(log, errors="replace") as f:
            detail = "\n" + f.read()[-3000:]
    raise RuntimeError(f"{what} did not come up within {timeout}s{detail}")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    """Every process below pid (children first found by /proc parentage)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a process we started, by its pid: TERM, then KILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def as_from_a_terminal(argv: list[str]) -> list[str]:
    """`argv` run with SIGINT as a shell started from a terminal gives it: default, not
    blocked. A test worker's own state (another library may have blocked or ignored it in
    the worker) must not decide whether a Ctrl-C reaches the command."""
    import sys  # noqa: PLC0415

    reset = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT]); "
        "os.execvp(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", reset, *argv]


def sigint_state(pid: int) -> str:
    """How process `pid` takes SIGINT (ignored, blocked, caught, pending), for a failure."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except OSError:
        return "gone"
    bit, said = 1 << (signal.SIGINT - 1), []
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name == "State":
            said.append(f"State={value.strip()}")
        elif name in ("SigIgn", "SigBlk", "SigCgt", "SigPnd", "ShdPnd"):
            said.append(f"{name}={'SIGINT' if int(value, 16) & bit else '-'}")
    return " ".join(said)
