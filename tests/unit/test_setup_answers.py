"""`fleetdeck setup`'s answers → profile: the same answers give the same bytes, the profile
is valid (check accepts it, and says what only the setup's stages can fill), and a bad
answer names its field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from console.app.cli import cli
from console.app.setup.answers import AnswersError, load_answers
from console.app.setup.writer import profile_text
from console.core.profile import loads

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "profiles" / "setup" / "first-fleet-answers.toml"


def test_the_same_answers_write_the_same_profile_byte_for_byte(tmp_path):
    first = profile_text(load_answers(EXAMPLE), EXAMPLE.name)
    copy = tmp_path / EXAMPLE.name
    copy.write_text(EXAMPLE.read_text())
    assert profile_text(load_answers(copy), copy.name) == first
    model = loads(first, "first-fleet.toml").model
    assert [n.name for _, n in model.all_nodes()] == [
        "c1-net",
        "c1-ml1",
        "c1-ml2",
        "c2-net",
        "c2-ml1",
    ]
    c2 = model.clusters[1]
    assert model.stack_settings(c2).key_name == "c2-ml-ops-key"
    assert model.stack_settings(c2).public_url == "http://198.51.100.20:8000"
    assert model.stack.ref == "v0.2.14" and model.stack.seed_p2p_url == "tcp://node2.gonka.ai:5000"
    assert set(model.secrets) == {"keyring_password", "account_keyring_password"}
    assert all(v.startswith("keyring:fleetdeck/first-fleet-") for v in model.secrets.values())
    assert model.models["Qwen/Qwen3-32B-FP8"].args == ["--tensor-parallel-size", "4"]
    # valid, and `check` names what only the keys stage can fill
    path = tmp_path / "first-fleet.toml"
    path.write_text(first)
    out = CliRunner().invoke(cli, ["check", str(path)]).output
    assert (
        "every cluster: no account key" in out and "no seeds" not in out and "no release" not in out
    )


def test_https_gives_each_cluster_its_name_under_the_domain(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text(
        EXAMPLE.read_text().replace(
            'stack = "gonka"', 'stack = "gonka"\nhttps = true\ndomain = "gpu.example.org"', 1
        )
    )
    model = loads(profile_text(load_answers(path)), "f.toml").model
    c1, c2 = model.clusters
    assert model.stack.nginx_mode == "https"
    assert model.stack_settings(c1).public_url == "https://gpu.example.org:8443"
    assert model.stack_settings(c2).public_url == "https://c2.gpu.example.org:8443"


def test_a_provider_fleet_and_rented_machines(tmp_path):
    answers = tmp_path / "a.toml"
    answers.write_text(
        'fleet = "prov"\nstack = "ollama"\n'
        '[[clusters]]\nname = "eu"\nroles = { provider = 2 }\nhosts = ["10.0.0.1", "10.0.0.2"]\n'
        'gpus = 1\ngpu_type = "L4"\nmodel = "llama3.1:8b"\n'
        '[[clusters]]\nname = "us"\nroles = { provider = 3 }\ngpus = 1\nmodel = "llama3.1:8b"\n'
        '[clusters.rent]\ndriver = "ec2"\nregion = "us-east-1"\nsize = "g6.xlarge"\n'
        'image = "ami-0abc"\ncredentials = "env:AWS_CREDS"\n'
    )
    model = loads(profile_text(load_answers(answers)), "prov.toml").model
    assert [n.name for _, n in model.all_nodes()] == ["eu-provider1", "eu-provider2"]
    assert "llama3.1:8b" in model.models and model.models["llama3.1:8b"].args == []
    [pool] = model.provision.pools
    assert (pool.cluster, pool.role, pool.count, pool.size) == ("us", "provider", 3, "g6.xlarge")
    assert pool.node_name(2) == "us-provider2" and pool.credentials == "env:AWS_CREDS"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('fleet = "f"\nstack = "gonka"\n', "clusters: Field required"),
        (
            'fleet = "f"\nstack = "gonka"\n[[clusters]]\nname = "c"\nroles = { ml = 1 }\n'
            'hosts = ["10.0.0.1"]\n',
            "answers: cluster c: a gonka cluster has one network node",
        ),
        (
            'fleet = "f"\nstack = "gonka"\n[[clusters]]\nname = "c"\nroles = { network = 1, '
            'ml = 2 }\nhosts = ["10.0.0.1"]\n',
            "3 nodes in roles but 1 hosts",
        ),
        (
            'fleet = "f"\nstack = "gonka"\n[[clusters]]\nname = "c"\nroles = { worker = 1 }\n',
            "role 'worker' is not a gonka role",
        ),
        (
            'fleet = "f"\nstack = "gonka"\nhttps = true\n[[clusters]]\nname = "c"\n'
            'roles = { network = 1 }\nhosts = ["10.0.0.1"]\n',
            "https = true needs a domain",
        ),
        ('fleet = "f"\nstack = "mystery"\n', "stack: Input should be"),
    ],
)
def test_a_bad_answer_is_named(tmp_path, text, said):
    path = tmp_path / "a.toml"
    path.write_text(text)
    with pytest.raises(AnswersError) as exc:
        load_answers(path)
    assert str(path) in str(exc.value) and said in str(exc.value)


def test_setup_without_answers_or_a_profile_says_how(tmp_path):
    run = CliRunner().invoke(cli, ["setup", str(tmp_path / "none.toml")])
    assert (
        run.exit_code == 1
        and "--answers" in run.output
        and "first-fleet-answers.toml" in run.output
    )


def test_a_literal_credential_is_refused_without_being_repeated(tmp_path):
    secret = "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # noqa: S105
    path = tmp_path / "a.toml"
    path.write_text(
        'fleet = "f"\nstack = "ollama"\n[[clusters]]\nname = "us"\nroles = { server = 1 }\n'
        '[clusters.rent]\ndriver = "ec2"\nregion = "us-east-1"\nsize = "g5.xlarge"\n'
        f'image = "ami-0abc"\ncredentials = "{secret}"\n'
    )
    with pytest.raises(AnswersError) as exc:
        load_answers(path)
    said = str(exc.value)
    assert "credentials" in said and "is not a secret reference" in said, said
    assert "AKIA" not in said and "wJalr" not in said  # never repeated
    path.write_text(path.read_text().replace(secret, "keyring:nope"))  # a malformed one
    with pytest.raises(AnswersError) as exc:
        load_answers(path)
    assert "'keyring:nope' is not a secret reference" in str(exc.value)
