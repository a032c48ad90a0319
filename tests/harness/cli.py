"""fleetdeck run as an operator runs it, in a private home, for tests that need no servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(
    env: dict[str, str], *args: str, timeout: float = 300, cwd: Path = REPO
) -> subprocess.CompletedProcess:
    """`fleetdeck ARGS` in `env`, no terminal, in `cwd` (what relative paths are to)."""
    return subprocess.run(
        [sys.executable, "-m", "console.app.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def fleetdeck(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`fleetdeck ARGS` with HOME and the state dir in `home`."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_STATE_HOME": str(home)}
    return run(env, *args, timeout=timeout)


def run_here(monkeypatch, capsys, *args: str, env: dict[str, str] | None = None):
    """`fleetdeck ARGS` in this process: (exit code, stdout, stderr). For what ends before
    any work (refusals, validation): a process each cost a second of start-up under load."""
    import console.app.cli

    monkeypatch.setattr(sys, "argv", ["fleetdeck", *args])
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    try:
        console.app.cli.main()
        code = 0
    except SystemExit as ended:
        code = ended.code if isinstance(ended.code, int) else 1
    said = capsys.readouterr()
    return code, said.out, said.err


def run_watching_argv(
    env: dict[str, str], forbidden: list[str], *args: str
) -> tuple[subprocess.CompletedProcess, int]:
    """`fleetdeck ARGS`, every process's argv on this machine read while it runs: none may
    hold one of `forbidden` (a secret). (the finished process, how many argvs were read)"""
    import os  # noqa: PLC0415
    import time  # noqa: PLC0415

    proc = subprocess.Popen(
        [sys.executable, "-m", "console.app.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    seen = 0
    while proc.poll() is None:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            seen += 1
            for word in forbidden:
                assert word.encode() not in cmdline, f"{word!r} in the argv of pid {pid}"
        time.sleep(0.02)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), seen
