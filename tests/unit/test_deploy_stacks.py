"""`deploy` is each stack's deploy: one stack's as it is, several stacks' steps each on
that stack's own nodes."""

from __future__ import annotations

from types import SimpleNamespace

from actions.deploy import action_named
from console.core.profile import loads

TWO_STACKS = """
[fleet]
name = "f"
stack = "gonka"

[[clusters]]
name = "c1"

[[clusters.nodes]]
name = "net"
host = "10.0.0.1"
role = "network"

[[clusters]]
name = "v1"
stack = "vllm"

[[clusters.nodes]]
name = "srv"
host = "10.0.0.2"
role = "server"
"""


def test_a_fleet_of_two_stacks_deploys_each_stacks_steps_on_its_own_nodes():
    deploy = action_named("deploy", loads(TWO_STACKS).model)
    names = [s.name for s in deploy.steps]
    assert names[:2] == ["preflight", "dependencies"] and "gpus" in names
    assert "vllm.models" in names and "vllm.validation" in names and "compose" in names
    assert deploy.stacks == ("gonka", "vllm")
    steps = {s.name: s for s in deploy.steps}
    assert steps["server"].after == ("compose",)
    on = {
        stack: SimpleNamespace(stack=stack, node=SimpleNamespace(model=None, models=[], role="x"))
        for stack in ("gonka", "vllm")
    }
    assert steps["gpus"].when(on["vllm"]) and not steps["gpus"].when(on["gonka"])
    assert steps["preflight"].when(on["gonka"]) and not steps["preflight"].when(on["vllm"])


def test_one_stacks_fleet_gets_that_stacks_deploy_as_it_is():
    vllm_only = TWO_STACKS.replace('stack = "gonka"', 'stack = "vllm"', 1)
    vllm_only = (
        vllm_only[: vllm_only.index("[[clusters]]")]
        + vllm_only[vllm_only.index('[[clusters]]\nname = "v1"') :]
    )
    deploy = action_named("deploy", loads(vllm_only).model)
    assert [s.name for s in deploy.steps] == ["gpus", "models", "compose", "server", "validation"]
    assert action_named("deploy").stacks == ("gonka",)  # no profile: Gonka's, as before
