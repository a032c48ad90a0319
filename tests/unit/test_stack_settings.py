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


OLLAMA_AND_VLLM = """
[fleet]
name = "f"
stack = "ollama"
{stack}
[[clusters]]
name = "p1"
{settings}
[[clusters.nodes]]
name = "prov"
host = "10.0.0.2"
role = "provider"

[[clusters]]
name = "s1"
stack = "vllm"

[[clusters.nodes]]
name = "srv"
host = "10.0.0.3"
role = "server"
"""


def test_a_stacks_own_settings_go_by_bare_names_in_its_own_tables():
    fleet = loads(OLLAMA_AND_VLLM.format(stack="", settings="[clusters.settings]\nport = 11500\n"))
    p1, s1 = fleet.model.clusters
    assert fleet.model.stack_settings(p1).ollama_port == 11500
    assert fleet.model.stack_settings(s1).vllm_port == 8000  # another stack's port, untouched
    assert fleet.renamed_settings() == []
    # [stack] of a fleet running both: `port` could be either, the prefixed names say which
    with pytest.raises(ProfileError) as both:
        loads(OLLAMA_AND_VLLM.format(stack="[stack]\nport = 1\n", settings=""), "f.toml")
    assert "stack.port: port is a setting of ollama and vllm" in str(both.value)
    assert "write ollama_port or vllm_port here" in str(both.value)
    mixed = loads(OLLAMA_AND_VLLM.format(stack="[stack]\nvllm_port = 8001\n", settings=""))
    assert mixed.model.stack_settings(mixed.model.clusters[1]).vllm_port == 8001
    assert mixed.renamed_settings() == []  # the prefixed name is the name there


def test_an_old_name_still_loads_and_check_says_its_new_one():
    old = loads(OLLAMA_AND_VLLM.format(stack="", settings="[clusters.settings]\nollama_port = 2\n"))
    assert old.model.stack_settings(old.model.clusters[0]).ollama_port == 2
    assert old.renamed_settings() == [
        "clusters[0].settings.ollama_port is now port (ollama_port still loads)"
    ]
    with pytest.raises(ProfileError, match="port is set twice here"):
        loads(
            OLLAMA_AND_VLLM.format(
                stack="", settings="[clusters.settings]\nport = 1\nollama_port = 2\n"
            )
        )


def test_a_problem_with_a_bare_name_is_said_by_that_name_at_its_line():
    with pytest.raises(ProfileError) as bad:
        loads(
            OLLAMA_AND_VLLM.format(stack="", settings='[clusters.settings]\nport = "x"\n'), "f.toml"
        )
    said = str(bad.value)
    assert "f.toml:9: clusters[0].settings.port:" in said and "ollama_port" not in said
