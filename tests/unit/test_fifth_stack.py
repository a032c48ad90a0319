"""A new stack lands in its own files (tests/data/fifth_stack/: its status side and its
action side) and one line per registry: the facts (STACKS), the collectors (COLLECTORS) and
the actions (STACK_ACTIONS). Nothing else of fleetdeck is touched, and a profile of that
stack loads, refuses another stack's setting, plans and deploys (issue 29)."""

from __future__ import annotations

import pytest

from actions.deploy import action_named
from actions.engine import Engine
from actions.registry import STACK_ACTIONS
from console.core.journal import Journal
from console.core.profile import ProfileError, loads
from console.core.secrets import Redactor
from console.core.stacks import STACKS, settings_of
from console.core.stacks.collectors import COLLECTORS
from tests.data.fifth_stack import actions, status

PROFILE = """
[fleet]
name = "fakes"
stack = "fake"

[[clusters]]
name = "w1"
{settings}
[[clusters.nodes]]
name = "w1-a"
host = "10.0.0.1"
role = "worker"

[[clusters.nodes]]
name = "w1-b"
host = "10.0.0.2"
role = "worker"
"""


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(STACKS, "fake", status.FAKE)  # the facts
    monkeypatch.setitem(COLLECTORS, "fake", status.COLLECTOR)  # the collectors
    monkeypatch.setitem(STACK_ACTIONS, "fake", actions.ACTIONS)  # the actions


class NoPool:
    def reset_backoff(self, name: str) -> None:
        pass

    def drop(self, name: str) -> None:
        pass


def test_a_fifth_stack_registered_by_one_line_per_registry_loads_plans_and_deploys(fake, tmp_path):
    profile = loads(PROFILE.format(settings=""), "fakes.toml")
    assert profile.model.cluster_stack(profile.model.clusters[0]) == "fake"
    assert settings_of("fake") >= {"fake_port", "deploy_dir", "hf_home"}
    with pytest.raises(ProfileError, match="ollama_port is a setting of ollama, not of fake"):
        loads(PROFILE.format(settings="[clusters.settings]\nollama_port = 1\n"), "fakes.toml")
    deploy = action_named("deploy", profile.model)
    assert deploy.stacks == ("fake",) and [s.name for s in deploy.steps] == ["install"]
    actions.MARKERS["dir"] = str(tmp_path)
    journal = Journal(tmp_path / "journal.sqlite", Redactor())
    try:
        engine = Engine(profile, NoPool(), journal)  # type: ignore[arg-type]
        plan = engine.plan(deploy)
        assert {(i.node, i.status) for i in plan} == {("w1-a", "change"), ("w1-b", "change")}
        assert engine.apply(deploy).outcome == "succeeded"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("w1")) == [
            "w1-a",
            "w1-b",
        ]
        assert {i.status for i in engine.plan(deploy)} == {"unchanged"}
    finally:
        journal.close()


def test_without_its_lines_the_stack_is_unknown():
    with pytest.raises(ProfileError, match="fleet.stack: 'fake' is not allowed"):
        loads(PROFILE.format(settings=""), "fakes.toml")
