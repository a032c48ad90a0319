"""Editing through the model keeps the operator's file; saving is atomic."""

from __future__ import annotations

import difflib
import os
import stat
import threading
from pathlib import Path

import pytest

from console.core import atomic
from console.core.profile import ProfileError, load

DATA = Path(__file__).resolve().parents[1] / "data"
ORIGINAL = (DATA / "commented.toml").read_text()


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "prod.toml"
    path.write_text(ORIGINAL)
    path.chmod(0o640)
    return path


def diff(before: str, after: str) -> tuple[list[str], list[str]]:
    """Lines removed and lines added, in order."""
    removed, added = [], []
    for line in difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if "#" in line]


def test_untouched_load_and_save_is_byte_identical(profile_file):
    profile = load(profile_file)
    profile.save()
    assert profile_file.read_text() == ORIGINAL


def test_change_a_host_touches_only_that_value(profile_file):
    profile = load(profile_file)
    profile.set_node_field("east-ml3", "host", "10.0.1.13")
    profile.save()
    after = profile_file.read_text()
    removed, added = diff(ORIGINAL, after)
    assert removed == ['host = "10.0.0.13"   # moved racks in May\n']
    assert added == ['host = "10.0.1.13"   # moved racks in May\n']
    assert load(profile_file).node("east-ml3").host == "10.0.1.13"


def test_add_a_node_appends_it_and_keeps_everything_else(profile_file):
    profile = load(profile_file)
    profile.add_node("east", name="east-ml4", host="10.0.0.14", role="ml", gpus=8)
    profile.save()
    after = profile_file.read_text()
    removed, added = diff(ORIGINAL, after)
    assert removed == []
    assert "".join(added).strip() == (
        '[[clusters.nodes]]\nname = "east-ml4"\nhost = "10.0.0.14"\nrole = "ml"\ngpus = 8'
    )
    assert comments(after) == comments(ORIGINAL)
    reloaded = load(profile_file)
    assert [n.name for n in reloaded.model.clusters[0].nodes][-1] == "east-ml4"
    # the new node sits before [alerts], inside the cluster
    assert after.index("east-ml4") < after.index("[alerts]")


def test_remove_a_node_takes_its_lines_and_its_comment_only(profile_file):
    profile = load(profile_file)
    profile.remove_node("east-ml2")
    profile.save()
    after = profile_file.read_text()
    removed, added = diff(ORIGINAL, after)
    assert added == []
    assert removed == [
        "# second ML node, to be retired\n",
        "[[clusters.nodes]]\n",
        'name = "east-ml2"\n',
        'host = "10.0.0.12"\n',
        'role = "ml"\n',
        "\n",
    ]
    # the third node keeps its own comment, right above its header
    assert '# third ML node\n[[clusters.nodes]]\nname = "east-ml3"' in after
    assert [n.name for n in load(profile_file).model.clusters[0].nodes] == [
        "east-net",
        "east-ml1",
        "east-ml3",
    ]


def test_add_change_remove_together_keep_every_other_line(profile_file):
    profile = load(profile_file)
    profile.add_node("east", name="east-ml4", host="10.0.0.14", role="ml")
    profile.set_node_field("east-net", "host", "10.0.0.20")
    profile.remove_node("east-ml1")
    profile.set_value(("ssh", "parallelism"), 16)
    profile.save()
    after = profile_file.read_text()
    removed, _ = diff(ORIGINAL, after)
    ml1 = [
        "# first ML node\n",
        "[[clusters.nodes]]\n",
        'name = "east-ml1"\n',
        'host = "10.0.0.11"\n',
        'role = "ml"\n',
        'model = "Qwen/Qwen3-32B-FP8"\n',
        "gpus = 8             # 8×H100\n",
    ]
    changed = ['host = "10.0.0.10"   # private address\n', "parallelism = 8\n"]
    assert sorted(removed) == sorted(ml1 + changed)
    # every comment outside the removed node survives, byte for byte
    kept = [
        c
        for c in comments(ORIGINAL)
        if c not in ("# first ML node", "gpus = 8             # 8×H100")
    ]
    assert comments(after) == [c.replace("10.0.0.10", "10.0.0.20") for c in kept]
    assert 'host = "10.0.0.20"   # private address' in after
    assert "# (ml1 sits in rack 4)" in after  # trailing comment block is not taken away


def test_an_invalid_edit_is_refused_and_leaves_the_profile_unchanged(profile_file):
    profile = load(profile_file)
    with pytest.raises(ProfileError, match="is not an IP address or hostname"):
        profile.set_node_field("east-ml1", "host", "10.0.0.300")
    with pytest.raises(ProfileError, match="duplicate node name"):
        profile.add_node("east", name="east-ml1", host="10.0.0.99", role="ml")
    with pytest.raises(ProfileError, match="exactly one 'network' node"):
        profile.remove_node("east-net")
    assert profile.text() == ORIGINAL
    assert profile.node("east-ml1").host == "10.0.0.11"


def test_save_keeps_the_file_mode(profile_file):
    profile = load(profile_file)
    profile.set_value(("ssh", "parallelism"), 4)
    profile.save()
    assert stat.S_IMODE(profile_file.stat().st_mode) == 0o640


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_an_interrupted_save_leaves_the_old_file_and_no_temp_file(
    profile_file, monkeypatch, fail_at
):
    profile = load(profile_file)
    profile.set_node_field("east-ml3", "host", "10.9.9.9")

    original, saver = getattr(atomic.os, fail_at), threading.get_ident()

    def interrupt(*args, **kwargs):
        if threading.get_ident() != saver:  # another thread (a simulated fleet's ticker)
            return original(*args, **kwargs)
        raise KeyboardInterrupt  # the operator's Ctrl-C, mid-save

    monkeypatch.setattr(atomic.os, fail_at, interrupt)
    with pytest.raises(KeyboardInterrupt):
        profile.save()
    monkeypatch.undo()
    assert profile_file.read_text() == ORIGINAL
    assert os.listdir(profile_file.parent) == [profile_file.name]


def test_save_through_a_symlink_keeps_the_link(tmp_path, profile_file):
    link = tmp_path / "current.toml"
    link.symlink_to(profile_file)
    profile = load(link)
    profile.set_value(("ssh", "parallelism"), 3)
    profile.save()
    assert link.is_symlink()
    assert "parallelism = 3" in profile_file.read_text()
