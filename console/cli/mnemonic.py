"""Where `fleetdeck run … keys` shows a new cold key's mnemonic: a file the operator names
(created 0600, never one that exists), else the terminal, where it waits until the
operator types the cluster's name to say it is written down; nowhere else (not a pipe, not
--json output, never the journal)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click

Reveal = Callable[[str, str, str], None]


def to_file(path: Path) -> Reveal:
    """Append each new key to `path`, made here with mode 0600 on first use."""
    if path.exists():
        raise click.UsageError(f"{path} exists: name a new file for the mnemonics")
    lock = threading.Lock()

    def reveal(cluster: str, address: str, mnemonic: str) -> None:
        with lock:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(f"# cluster {cluster}, account {address}\n{mnemonic}\n")
        click.echo(f"{cluster}: the mnemonic of {address} is in {path} (mode 0600)")

    return reveal


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
