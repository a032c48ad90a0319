"""This machine's SSH setup is checked first: a missing or broken key file, or a known_hosts
path that is a directory, is one message naming the file and the fix, not N red nodes."""

from __future__ import annotations

from pathlib import Path

from tests.harness.cli import fleetdeck
from tests.harness.profiles import unreachable_profile

REPO = Path(__file__).resolve().parents[2]


def with_ssh(tmp_path: Path, **values: str) -> str:
    """The unreachable one-node profile with [ssh] values set (key, known_hosts)."""
    profile = unreachable_profile(tmp_path)
    kept = [
        line
        for line in profile.read_text().splitlines()
        if not any(line.startswith(f"{k} =") for k in values)
    ]
    at = kept.index("[ssh]") + 1
    kept[at:at] = [f'{k} = "{v}"' for k, v in values.items()]
    profile.write_text("\n".join(kept) + "\n")
    return str(profile)


def test_a_missing_key_file_is_one_clear_error(tmp_path):
    profile = with_ssh(tmp_path, key=str(tmp_path / "nope_ed25519"))
    for args in (["status", profile], ["plan", profile, "deploy"], ["run", profile, "deploy"]):
        done = fleetdeck(tmp_path, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"{tmp_path / 'nope_ed25519'}: no such key file ([ssh].key)" in done.stderr
        assert "fix: set [ssh].key" in done.stderr
        assert "unreachable" not in done.stdout + done.stderr


def test_a_key_file_that_is_no_key_and_a_known_hosts_directory(tmp_path):
    junk = tmp_path / "junk_key"
    junk.write_text("this is not a key\n")
    done = fleetdeck(tmp_path, "status", with_ssh(tmp_path, key=str(junk)))
    assert done.returncode == 1 and f"{junk}: not a private key" in done.stderr
    (tmp_path / "khdir").mkdir()
    done = fleetdeck(tmp_path, "status", with_ssh(tmp_path, known_hosts=str(tmp_path / "khdir")))
    assert done.returncode == 1, done.stderr
    assert f"{tmp_path / 'khdir'}: is a directory" in done.stderr
    assert "internal error" not in done.stderr
