"""`fleetdeck run` refusals that need no servers: unreachable nodes, no terminal, bad options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness.cli import fleetdeck as cli
from tests.harness.cli import run_here
from tests.harness.procs import free_port
from tests.harness.profiles import UNREACHABLE, unreachable_profile

REPO = Path(__file__).resolve().parents[2]


def fleetdeck(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = unreachable_profile(tmp_path)
    return cli(tmp_path, *[a.replace("PROFILE", str(profile)) for a in args])


def test_unreachable_nodes_are_not_reported_as_nothing_to_do(tmp_path):
    done = fleetdeck(tmp_path, "run", "PROFILE", "deploy")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "net\n  ! preflight  cannot check: net: connection refused" in done.stdout
    assert "1 step cannot be checked (see above); nothing was run" in done.stderr
    assert "nothing to do" not in done.stdout


def test_bad_options_and_unknown_actions_are_refused_before_connecting(tmp_path):
    done = fleetdeck(tmp_path, "run", "PROFILE", "deploy", "--batch", "0")
    assert done.returncode == 64 and "--batch 0: a batch needs at least one node" in done.stderr
    done = fleetdeck(tmp_path, "run", "PROFILE", "deploy", "--max-fail", "120%")
    assert done.returncode == 64 and "between 0% and 100%" in done.stderr
    done = fleetdeck(tmp_path, "plan", "PROFILE", "teardown")
    assert done.returncode == 1 and "unknown action 'teardown'; one of: deploy" in done.stderr
    done = fleetdeck(tmp_path, "run", "PROFILE", "deploy", "--resume")
    assert done.returncode == 1 and "no earlier deploy run of nowhere to resume" in done.stderr
    done = fleetdeck(tmp_path, "run", "PROFILE", "deploy", "--resume", "20990101-000000-abcdef")
    assert done.returncode == 1 and "no run 20990101-000000-abcdef in" in done.stderr


def in_process(tmp_path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    profile = unreachable_profile(tmp_path)
    argv = [a.replace("PROFILE", str(profile)) for a in args]
    return run_here(monkeypatch, capsys, *argv, env={"XDG_STATE_HOME": str(tmp_path)})


def test_an_empty_limit_is_refused_not_taken_for_the_whole_fleet(tmp_path, monkeypatch, capsys):
    for empty in ("", " ", "net,", ",,"):
        for args in (("run", "PROFILE", "deploy", "--yes"), ("plan", "PROFILE", "deploy")):
            code, out, err = in_process(tmp_path, monkeypatch, capsys, *args, "--limit", empty)
            assert code == 64, (empty, out + err)
            assert "an empty value would mean the whole fleet" in err
            assert "preflight" not in out  # refused before anything was checked
    code, _, err = in_process(
        tmp_path, monkeypatch, capsys, "plan", "PROFILE", "deploy", "--limit", "nosuch"
    )
    assert code == 1 and "--limit nosuch: no node, role or cluster" in err


def test_usage_errors_exit_64_apart_from_status_critical_2(tmp_path):
    done = fleetdeck(tmp_path, "run", "PROFILE", "deploy", "--no-such-option")
    assert done.returncode == 64 and "No such option" in done.stderr
    done = fleetdeck(
        tmp_path, "sim", "up", "PROFILE", "--dir", str(tmp_path / "s"), "--block-time", "0"
    )
    assert done.returncode == 64 and "--block-time" in done.stderr
    assert "Traceback" not in done.stderr
    helped = fleetdeck(tmp_path, "--help")
    assert helped.returncode == 0 and "fleetdeck sim up|fault|down" in helped.stdout


def test_journal_lists_runs_and_a_runs_steps(tmp_path):
    from console.core.journal import DONE, FAILED, Journal
    from console.core.secrets import Redactor

    journal = Journal(tmp_path / "fleetdeck" / "journal.sqlite", Redactor())
    run = journal.start_run("deploy", "nowhere", "p.toml", {})
    journal.plan_steps(run, "net", ["firewall", "models"])
    journal.set_step(run, "net", "firewall", "running", attempt=True)
    journal.line(run, "net", "firewall", "stdout", "Rule added")
    journal.set_step(run, "net", "firewall", DONE, summary="4 firewall changes")
    journal.set_step(run, "net", "models", FAILED, error="exit 1: hf download", attempt=True)
    journal.finish_run(run, "failed")
    journal.close()
    listing = fleetdeck(tmp_path, "journal", "PROFILE")
    assert listing.returncode == 0, listing.stderr
    assert run in listing.stdout and "deploy" in listing.stdout and "failed" in listing.stdout
    steps = fleetdeck(tmp_path, "journal", "PROFILE", run, "--lines")
    assert "net            firewall       done" in steps.stdout
    assert "4 firewall changes" in steps.stdout and "      | Rule added" in steps.stdout
    assert "models         failed" in steps.stdout and "exit 1: hf download" in steps.stdout
    missing = fleetdeck(tmp_path, "journal", "PROFILE", "20990101-nope")
    assert missing.returncode == 1 and "no run 20990101-nope of nowhere" in missing.stderr


TWO_UNREACHABLE = (
    UNREACHABLE
    + """
[[clusters.nodes]]
name = "ml1"
host = "127.0.0.1"
port = {port2}
role = "ml"
"""
)


def run_in_terminal(tmp_path, args: list[str], answer: str) -> tuple[int, str]:
    """fleetdeck in a pseudo-terminal (stdin a tty, as for an operator): answer its
    question with `answer`, return the exit status and everything it printed."""
    import os
    import pty
    import select
    import time

    master, slave = pty.openpty()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.app.cli", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    seen, answered, deadline = b"", False, time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"go on with the other nodes?" in seen:
            os.write(master, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    os.close(master)
    return proc.wait(timeout=10), seen.decode(errors="replace")


def test_pause_on_failure_asks_at_the_first_failure_and_the_answer_decides(tmp_path):
    profile = tmp_path / "two.toml"
    profile.write_text(
        TWO_UNREACHABLE.format(kh=tmp_path / "known_hosts", port=free_port(), port2=free_port())
    )
    args = ["run", str(profile), "deploy", "--yes", "--batch", "1", "--pause-on-failure"]
    # no: nothing more starts; the run ends cancelled (130) and ml1 is never tried
    rc, out = run_in_terminal(tmp_path / "no", args, "n")
    assert "net failed:" in out and "connection refused" in out, out
    assert rc == 130, out
    after = out.split("go on with the other nodes?", 1)[1].splitlines()
    tried = [line for line in after if line.startswith("ml1 ") and "cancelled" not in line]
    assert not tried, tried
    # yes: the next batch (ml1) runs, fails too, and the run ends failed (4), asked once
    rc, out = run_in_terminal(tmp_path / "yes", args, "y")
    assert rc == 4, out
    assert out.count("go on with the other nodes?") == 1
    assert "ml1 failed" not in out  # asked only at the first failure
    assert any(line.startswith("ml1 ") and "refused" in line for line in out.splitlines()), out


def test_import_into_a_missing_folder_and_a_zero_wait_are_refused_plainly(tmp_path):
    inventory = REPO / "tests" / "data" / "gonka-inventory.ini"
    out = tmp_path / "missing" / "x.toml"
    done = fleetdeck(tmp_path, "import-inventory", str(inventory), "-o", str(out))
    assert done.returncode == 1 and "does not exist; create it first" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
    for wait in ("0", "-5"):
        done = fleetdeck(tmp_path, "status", "PROFILE", "--wait", wait)
        assert done.returncode == 64 and "--wait" in done.stderr, done.stderr
        assert "down" not in done.stdout


def test_every_number_and_duration_is_finite_and_in_range(tmp_path, monkeypatch, capsys):
    """nan compares false with both bounds of a range: `--wait nan`, `--speed nan` and
    `--block-time nan` passed and hung or crashed; a zero or nan timeout measured nothing."""
    recording = tmp_path / "r.jsonl"
    recording.write_text("")
    for args, option in (
        (("status", "PROFILE", "--wait", "nan"), "--wait"),
        (("status", "PROFILE", "--wait", "inf"), "--wait"),
        (("replay", str(recording), "--speed", "nan"), "--speed"),
        (("sim", "up", "PROFILE", "--dir", str(tmp_path / "s"), "--block-time", "nan"), "--block"),
        (("loadtest", "PROFILE", "--timeout", "0s"), "--timeout"),
        (("loadtest", "PROFILE", "--timeout", "nan"), "--timeout"),
        (("loadtest", "PROFILE", "--max-time", "0"), "--max-time"),
        (("loadtest", "PROFILE", "--limit", ""), "--limit"),  # not the whole fleet
        (("loadtest", "PROFILE", "--limit", "net,"), "--limit"),
    ):
        code, out, err = in_process(tmp_path, monkeypatch, capsys, *args)
        assert code == 64, (args, out + err)
        assert option in err and "Traceback" not in err, (args, err)
        assert not (tmp_path / "s").exists()


def test_an_encrypted_key_without_an_agent_is_said_with_the_fix(tmp_path):
    key = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(key)], check=True
    )
    profile = unreachable_profile(tmp_path)
    profile.write_text(
        profile.read_text().replace("known_hosts =", f'key = "{key}"\nknown_hosts =', 1)
    )
    for args in (("plan", str(profile), "deploy"), ("status", str(profile))):
        done = cli(tmp_path, *args)  # no SSH_AUTH_SOCK: no agent
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"{key}: the key is encrypted (it has a passphrase) and no ssh-agent" in done.stderr
        assert "ssh-add" in done.stderr and "internal error" not in done.stderr
        assert "Traceback" not in done.stderr


def test_a_hung_host_is_said_in_words_never_with_the_ssh_librarys_traceback(tmp_path):
    import socket

    from tests.harness.profiles import UNREACHABLE

    silent = socket.socket()  # takes the connection, never says a word of SSH
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    profile = tmp_path / "hung.toml"
    profile.write_text(
        UNREACHABLE.format(kh=tmp_path / "known_hosts", port=silent.getsockname()[1])
    )
    try:
        for args in (
            ("status", str(profile), "--wait", "3"),
            ("run", str(profile), "deploy", "--yes"),
        ):
            done = cli(tmp_path, *args)
            said = done.stdout + done.stderr
            assert "Traceback" not in said and "paramiko" not in said, said
            assert "SSHException" not in said, said
            assert "(host hung?)" in said, said
    finally:
        silent.close()
