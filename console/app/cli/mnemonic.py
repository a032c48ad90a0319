"""Where `fleetdeck run … keys` shows a new cold key's mnemonic: a file the operator names
(created 0600 before any key is made, never one that exists or a link), else the terminal,
where it waits until the operator types the cluster's name to say it is written down;
nowhere else (not a pipe, not --json output, never the journal)."""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click

Reveal = Callable[[str, str, str], None]


def to_file(path: Path) -> Reveal:
    """Append each new key to `path`, created here, now, before any key is made: a new
    regular file (0600) in a directory that exists, never through a symlink (dangling or
    not), never one that exists. A destination that cannot take the words is refused
    before a key exists whose words would have nowhere to go; a file no key was written
    to is removed at exit."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise click.UsageError(f"--mnemonic-file {path}: {_why(path, exc)}") from None
    made = os.fstat(fd)
    out = os.fdopen(fd, "a")
    lock = threading.Lock()
    written = threading.Event()

    def reveal(cluster: str, address: str, mnemonic: str) -> None:
        with lock:
            out.write(f"# cluster {cluster}, account {address}\n{mnemonic}\n")
            out.flush()
            os.fsync(out.fileno())  # on disk before the key is kept
            written.set()
        click.echo(f"{cluster}: the mnemonic of {address} is in {path} (mode 0600)")

    def unused() -> None:
        out.close()
        if not written.is_set():
            with contextlib.suppress(OSError):
                now = os.stat(path, follow_symlinks=False)
                if (now.st_dev, now.st_ino) == (made.st_dev, made.st_ino) and not now.st_size:
                    os.unlink(path)

    atexit.register(unused)
    return reveal


def check_destination(path: Path) -> None:
    """Refuse, before anything else is done, a mnemonic file `to_file` would refuse later:
    made exclusively as it will be, then removed (setup's keys stage comes minutes in)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except OSError as exc:
        raise click.UsageError(f"--mnemonic-file {path}: {_why(path, exc)}") from None
    os.unlink(path)


def _why(path: Path, exc: OSError) -> str:
    """Why the mnemonic file cannot be made, and what to name instead."""
    if path.is_symlink():
        return "is a symbolic link: name a new regular file, not a link"
    if exc.errno == errno.EEXIST:
        return "exists: name a new file for the mnemonics"
    if exc.errno == errno.ENOENT and not path.parent.is_dir():
        return f"its directory {path.parent} does not exist: create it, or name another"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot be created ({exc.strerror}): name a file in a directory you can write"
    return f"cannot be created ({exc.strerror}): name a new file in a writable directory"


def to_terminal(out_lock: threading.Lock) -> Reveal:
    def reveal(cluster: str, address: str, mnemonic: str) -> None:
        with out_lock:
            click.echo(
                f"\n┌ cluster {cluster}: new account key {address}\n"
                "│ its mnemonic, shown once: write it down now, keep it offline\n"
                f"│\n│   {mnemonic}\n│\n"
                "└ it is the only way to recover this account; fleetdeck keeps no copy"
            )
            while click.prompt(f"type {cluster} once it is written down", default="") != cluster:
                pass

    return reveal


def recoverer(out_lock: threading.Lock) -> Callable[[str], str]:
    """`keys --recover`: each cluster's mnemonic, asked on the terminal (not echoed), or
    read from standard input: lines `CLUSTER: words…`, or one bare line for one cluster."""
    given: dict[str, str] = {}
    bare: list[str] = []
    read = threading.Event()

    def recover(cluster: str) -> str:
        with out_lock:
            if sys.stdin.isatty():
                return click.prompt(
                    f"the mnemonic of cluster {cluster}'s account key", hide_input=True
                )
            if not read.is_set():
                for line in sys.stdin.read().splitlines():
                    name, sep, words = line.partition(":")
                    if sep and len(name.split()) == 1:
                        given[name.strip()] = words.strip()
                    elif line.strip():
                        bare.append(line.strip())
                read.set()
            if cluster in given:
                return given[cluster]
            return bare[0] if len(bare) == 1 and not given else ""

    return recover


def revealer(path: Path | None, as_json: bool, out_lock: threading.Lock) -> Reveal | None:
    if path is not None:
        return to_file(path)
    if sys.stdin.isatty() and sys.stdout.isatty() and not as_json:
        return to_terminal(out_lock)
    return None  # the step that makes a key says where to run it instead
