"""`setup --answers` checks the answers with the rules the profile applies, before writing:
a bad answer is named by its field with exit 1 (never exit 70, never a profile with extra
lines or an SSH option for a user), and so is a profile path that cannot be written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.cli import run_here

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "profiles" / "setup" / "first-fleet-answers.toml").read_text()


@pytest.fixture
def setup(tmp_path, monkeypatch, capsys):
    """`fleetdeck setup ARGS --answers FILE --write-only` here, in tmp_path: (code, out, err)."""
    monkeypatch.chdir(tmp_path)

    def run(answers: Path, *args: str) -> tuple[int, str, str]:
        argv = ["setup", *args, "--answers", str(answers), "--write-only"]
        return run_here(monkeypatch, capsys, *argv)

    return run


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('ssh_user = "ubuntu"', 'ssh_user = ""', "ssh_user: '' is not a login name"),
        ('ssh_user = "ubuntu"', 'ssh_user = "-oProxyCommand=touch x"', "ssh_user: '-oProxyComm"),
        ('ssh_user = "ubuntu"', 'ssh_user = "ubu\\nntu"', "ssh_user: 'ubu\\nntu' is not a"),
        ('gpu_type = "H100"', 'gpu_type = "H100\\n[evil]"', "clusters.0.gpu_type: 'H100\\n"),
        ('model = "Qwen/Qwen3-32B-FP8"     #', 'model = "Qwen\\u202eFP8" #', "clusters.0.model:"),
        ("[[clusters]]", 'release = "v0.2.14\\nx"\n[[clusters]]', "release: 'v0.2.14\\nx' holds"),
        ("[[clusters]]", 'https = true\ndomain = "a b.example"\n[[clusters]]', "domain: 'a b"),
        ('"203.0.113.12"]', '"203.0.113.11"]', "refused"),  # the same host twice
        (
            "[[clusters]]",
            'seeds = { seed_api_url = "http://u:pw@node2.gonka.ai:8000", '
            'seed_rpc_url = "http://node2.gonka.ai:8000/chain-rpc/", '
            'seed_p2p_url = "tcp://node2.gonka.ai:5000" }\n[[clusters]]',
            "refused",
        ),
    ],
    ids=[
        "user-empty",
        "user-option",
        "user-newline",
        "gpu-type-newline",
        "model-bidi",
        "release-newline",
        "domain-space",
        "host-twice",
        "password-in-seed-url",
    ],
)
def test_a_bad_answer_is_named_and_nothing_is_written(tmp_path, setup, old, new, said):
    assert old in EXAMPLE
    answers = tmp_path / "answers.toml"
    answers.write_text(EXAMPLE.replace(old, new, 1))
    code, out, err = setup(answers)
    assert code == 1, out + err
    assert said in err, err
    assert "internal error" not in err and "Traceback" not in err
    assert "pw@" not in err + out  # a password is not repeated
    assert not (tmp_path / "first-fleet.toml").exists()


def test_answers_not_utf8_and_a_profile_path_that_cannot_be_one(tmp_path, setup):
    answers = tmp_path / "answers.toml"
    answers.write_bytes(EXAMPLE.encode().replace(b"first-fleet", b"first-fl\xffeet", 1))
    code, _, err = setup(answers)
    assert code == 1 and "not UTF-8" in err, err
    answers.write_text(EXAMPLE)
    (tmp_path / "adir.toml").mkdir()
    code, _, err = setup(answers, "adir.toml")  # refused as the argument it is: usage
    assert code == 64 and "'adir.toml' is a directory" in err, err
    code, _, err = setup(answers, "missing/dir/fleet.toml")
    assert code == 1, err
    assert "missing/dir/fleet.toml: cannot be the profile" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", ["missing-directory", "dangling-link", "link", "existing"])
def test_a_mnemonic_file_that_cannot_take_the_words_is_refused_before_anything(
    tmp_path, setup, kind
):
    """What `keys` would refuse at the setup's keys stage (minutes in, after the profile,
    the rehearsal's fleet or rented machines) is refused first, and nothing is written."""
    answers = tmp_path / "answers.toml"
    answers.write_text(EXAMPLE)
    (tmp_path / "notes.txt").write_text("the operator's own notes\n")
    words = tmp_path / "words.txt"
    if kind == "missing-directory":
        words = tmp_path / "nowhere" / "words.txt"
    elif kind == "dangling-link":
        words.symlink_to(tmp_path / "elsewhere.txt")
    elif kind == "link":
        words.symlink_to(tmp_path / "notes.txt")
    else:
        words.write_text("last year's words\n")
    before = sorted(tmp_path.iterdir())
    code, _, err = setup(answers, "--mnemonic-file", str(words))
    assert code == 64 and f"--mnemonic-file {words}: " in err, err
    assert sorted(tmp_path.iterdir()) == before  # no profile, nothing through a link
    assert (tmp_path / "notes.txt").read_text() == "the operator's own notes\n"
