"""A cold key is never kept without its mnemonic: `keys --mnemonic-file` refuses, before any
key is made, a destination that cannot take the words (a missing directory, an unwritable
place, a symlink dangling or not, a file that exists), and a key whose words could not be
delivered is deleted again. The keyring directories are the owner's alone (0700).

The cold key is made on this machine with `inferenced` (the simulator's here), so the
fleet's one node may be unreachable: only its warm key, made on the node, fails."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from console.sim import tools
from tests.harness.profiles import unreachable_profile

REPO = Path(__file__).resolve().parents[2]
COLD = "cold-Pw-7d1e-test"  # noqa: S105 - a test keyring's password


def keys_fleet(tmp_path: Path) -> Path:
    """The one-node fleet `nowhere`, its cold key made with the simulator's CLI."""
    (tmp_path / "bin").mkdir()
    tools.install(tmp_path, "inferenced")
    profile = unreachable_profile(tmp_path)
    text = profile.read_text().replace(
        "[stack]\n", f'[stack]\ncli = "{tmp_path / "bin" / "inferenced"}"\n', 1
    )
    text = text.replace(
        "[[clusters]]", '[secrets]\naccount_keyring_password = "env:FD_TEST_COLD"\n[[clusters]]', 1
    )
    profile.write_text(text)
    return profile


def keys(tmp_path: Path, profile: Path, destination: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "FD_TEST_COLD": COLD,
    }
    return subprocess.run(
        [sys.executable, "-m", "console.app.cli", "run", str(profile), "keys", "--yes"]
        + ["--mnemonic-file", destination],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def keyring(tmp_path: Path) -> Path:
    return tmp_path / "data" / "fleetdeck" / "keyrings" / "nowhere" / "c1"


def keys_in(tmp_path: Path) -> list[str]:
    """The keys in the cluster's cold keyring (the simulator keeps one NAME.info each)."""
    return sorted(p.name for p in (keyring(tmp_path) / "keyring-file").glob("*.info"))


def missing_directory(tmp_path: Path) -> tuple[str, str]:
    return str(tmp_path / "no-such-dir" / "words.txt"), "does not exist: create it"


def unwritable(tmp_path: Path) -> tuple[str, str]:
    return "/proc/fleetdeck-words.txt", "cannot be created"


def dangling_link(tmp_path: Path) -> tuple[str, str]:
    link = tmp_path / "words.txt"
    link.symlink_to(tmp_path / "elsewhere.txt")
    return str(link), "is a symbolic link"


def link_to_a_file(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "notes.txt").write_text("the operator's own notes\n")
    link = tmp_path / "words.txt"
    link.symlink_to(tmp_path / "notes.txt")
    return str(link), "is a symbolic link"


def existing_file(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "words.txt").write_text("last year's words\n")
    return str(tmp_path / "words.txt"), "exists: name a new file"


@pytest.mark.parametrize(
    "destination", [missing_directory, unwritable, dangling_link, link_to_a_file, existing_file]
)
def test_a_destination_that_cannot_take_the_words_makes_no_key(tmp_path, destination):
    profile = keys_fleet(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.glob("*.txt") if p.exists()}
    path, why = destination(tmp_path)
    done = keys(tmp_path, profile, path)
    assert done.returncode == 64, done.stdout + done.stderr
    assert f"--mnemonic-file {path}: " in done.stderr and why in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not keyring(tmp_path).exists() and keys_in(tmp_path) == []  # no key made
    assert not (tmp_path / "elsewhere.txt").exists()  # nothing written through a link
    assert {p: p.read_bytes() for p in before} == before  # the operator's files as they were
    assert "account_address" not in profile.read_text()


def test_a_new_file_gets_the_words_and_the_keyring_directories_are_private(tmp_path):
    profile = keys_fleet(tmp_path)
    words = tmp_path / "words.txt"
    done = keys(tmp_path, profile, str(words))
    # the cold key is made here; only the warm key, on the unreachable node, fails
    assert done.returncode == 4, done.stdout + done.stderr
    assert "net cold-key      ✓ done" in done.stdout, done.stdout
    assert keys_in(tmp_path) == ["gonka-account-key.info"]
    assert stat.S_IMODE(words.stat().st_mode) == 0o600
    lines = words.read_text().splitlines()
    assert lines[0].startswith("# cluster c1, account gonka1") and len(lines[1].split()) == 24
    home = keyring(tmp_path)
    for directory in (home, home.parent, home.parent.parent):  # c1, nowhere, keyrings
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_a_file_no_key_was_written_to_is_removed(tmp_path):
    profile = keys_fleet(tmp_path)
    keys(tmp_path, profile, str(tmp_path / "first.txt"))  # the key is made here
    done = keys(tmp_path, profile, str(tmp_path / "second.txt"))
    assert "net cold-key      ✓ done" not in done.stdout  # nothing to make: it exists
    assert not (tmp_path / "second.txt").exists()


def test_a_key_whose_words_could_not_be_delivered_is_deleted(tmp_path, monkeypatch):
    from actions.deploy import action_named
    from console.app.cli.common import engine_for
    from console.core.profile import load

    profile = keys_fleet(tmp_path)
    for name, value in {
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "FD_TEST_COLD": COLD,
    }.items():
        monkeypatch.setenv(name, value)
    loaded = load(profile)
    engine, pool = engine_for(loaded, False)

    def full_disk(cluster: str, address: str, mnemonic: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    engine.reveal = full_disk
    try:
        result = engine.apply(action_named("keys"), (), profile_path=str(profile))
        [(_, step)] = [
            (r, s) for r, s in engine.journal.node_history("net") if s.step == "cold-key"
        ]
    finally:
        pool.close()
    assert result.states["net"]["cold-key"] == "failed", result
    assert "could not be delivered" in step.error and "deleted again" in step.error, step
    assert keys_in(tmp_path) == []  # the keyring holds no key without its words
    assert "account_address" not in profile.read_text()
