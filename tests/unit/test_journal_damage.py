"""A damaged journal: reads name the file and the fix; plan does not need it; a run moves
it aside (never writes over it) and starts a new one."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from console.core.journal import Journal, JournalError
from tests.harness.cli import fleetdeck as cli
from tests.harness.profiles import unreachable_profile

REPO = Path(__file__).resolve().parents[2]
DAMAGE = b"SQLite format 3\x00" + b"\xde\xad" * 4000


def test_reading_a_damaged_journal_names_it_and_the_fix(tmp_path):
    path = tmp_path / "journal.sqlite"
    path.write_bytes(DAMAGE)
    with pytest.raises(JournalError) as caught:
        Journal(path)
    assert str(path) in str(caught.value) and "fix:" in str(caught.value)
    assert path.read_bytes() == DAMAGE  # untouched


def test_a_run_moves_a_damaged_journal_aside_and_starts_anew(tmp_path):
    path = tmp_path / "journal.sqlite"
    path.write_bytes(DAMAGE)
    journal = Journal(path, recover=True)
    assert journal.moved_aside is not None and journal.moved_aside.read_bytes() == DAMAGE
    run = journal.start_run("deploy", "f", "p", {})
    assert journal.run(run) is not None
    journal.close()


def test_an_intact_journal_is_never_moved(tmp_path):
    path = tmp_path / "journal.sqlite"
    first = Journal(path, recover=True)
    run = first.start_run("deploy", "f", "p", {})
    first.close()
    again = Journal(path, recover=True)
    assert again.moved_aside is None and again.run(run) is not None
    again.close()
    assert sorted(p.name for p in tmp_path.iterdir() if "corrupt" in p.name) == []


def test_cli_with_a_damaged_journal(tmp_path):
    profile = str(unreachable_profile(tmp_path))
    path = tmp_path / "fleetdeck" / "journal.sqlite"
    path.parent.mkdir()
    path.write_bytes(DAMAGE)
    listed = cli(tmp_path, "journal", profile)
    assert listed.returncode == 1 and str(path) in listed.stderr and "fix:" in listed.stderr
    assert "internal error" not in listed.stderr
    plan = cli(tmp_path, "plan", profile, "deploy")
    assert "internal error" not in plan.stderr and "DatabaseError" not in plan.stderr
    assert "preflight" in plan.stdout  # it planned (the node is unreachable: exit 4)
    assert path.read_bytes() == DAMAGE
    run = cli(tmp_path, "run", profile, "deploy", "--yes")
    assert "internal error" not in run.stderr
    assert "could not be read; it was moved aside to" in run.stderr
    (aside,) = path.parent.glob("journal.sqlite.corrupt-*")
    assert aside.read_bytes() == DAMAGE


def test_a_journal_of_another_schema_is_named_then_moved_aside_not_a_traceback(tmp_path):
    """Tables that lack a column this version reads (`no such column: fleet` was exit 70)."""
    profile = str(unreachable_profile(tmp_path))
    path = tmp_path / "fleetdeck" / "journal.sqlite"
    path.parent.mkdir()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, action TEXT, started REAL)")
        db.execute("INSERT INTO runs VALUES ('r1', 'deploy', 1.0)")
        db.commit()
    before = path.read_bytes()
    with pytest.raises(JournalError, match="table runs has no column finished, fleet"):
        Journal(path)
    listed = cli(tmp_path, "journal", profile)
    assert listed.returncode == 1 and "has no column" in listed.stderr, listed.stderr
    assert "internal error" not in listed.stderr and "Traceback" not in listed.stderr
    assert path.read_bytes() == before  # a read never changes it
    run = cli(tmp_path, "run", profile, "deploy", "--yes")
    assert "internal error" not in run.stderr and "moved aside to" in run.stderr
    (aside,) = path.parent.glob("journal.sqlite.corrupt-*")
    assert aside.read_bytes() == before
