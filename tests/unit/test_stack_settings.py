"""Settings per stack: a cluster's [clusters.settings] holds the common settings and its own
stack's, [stack] those of a stack some cluster runs; another stack's key is refused naming the
key, where it is and the stacks that read it (issue 29). Every example profile still loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.profile import ProfileError, load, loads
from console.core.stacks import COMMON_SETTINGS, STACKS, settings_of, stacks_knowing

REPO = Path(__file__).resolve().parents[2]
TWO = """
[fleet]
name = "f"
stack = "gonka"
{stack}
[[clusters]]
name = "c1"
{settings}
[[clusters.nodes]]
name = "net"
host = "10.0.0.1"
role = "network"

[[clusters]]
name = "p1"
stack = "ollama"

[[clusters.nodes]]
name = "prov"
host = "10.0.0.2"
role = "provider"
model = "llama3.1:8b"

[models."llama3.1:8b"]
"""


def profile(stack: str = "", settings: str = "") -> str:
    return TWO.format(stack=stack, settings=settings)


def test_a_gonka_cluster_that_sets_an_ollama_key_is_refused_naming_it():
    with pytest.raises(ProfileError) as refused:
        loads(profile(settings="[clusters.settings]\nollama_port = 11500\n"), "f.toml")
    said = str(refused.value)
    assert "clusters[0].settings.ollama_port" in said
    assert "ollama_port is a setting of ollama, not of gonka (this cluster's stack)" in said
    assert "f.toml:9" in said  # its line


def test_stack_takes_the_keys_of_the_stacks_the_fleet_runs_and_no_others():
    fleet = loads(profile(stack='[stack]\nollama_num_parallel = 4\nhf_home = "/data"\n'))
    [ollama] = [c for c in fleet.model.clusters if c.name == "p1"]
    assert fleet.model.stack_settings(ollama).ollama_num_parallel == 4
    with pytest.raises(ProfileError, match="vllm_port is a setting of vllm, and no cluster"):
        loads(profile(stack="[stack]\nvllm_port = 8001\n"))


def test_each_stack_declares_its_own_settings_and_the_common_ones_are_everyones():
    assert {"deploy_dir", "hf_home"} == COMMON_SETTINGS
    for name in STACKS:
        assert settings_of(name) >= COMMON_SETTINGS
    assert "ollama_port" in settings_of("ollama") and "ollama_port" not in settings_of("gonka")
    assert stacks_knowing("seed_api_url") == ["gonka"] and stacks_knowing("nope") == []


def test_every_example_and_test_profile_loads_unchanged():
    paths = [*REPO.glob("profiles/*.toml"), *REPO.glob("tests/data/*.toml")]
    assert len(paths) >= 9
    for path in paths:
        if path.name.endswith("-answers.toml"):
            continue
        load(path)
