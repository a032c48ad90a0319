"""The simulator knows the releases on its own (console/sim/containers.py), not by asking
the product's registry; the two are compared here, so that either one drifting is seen."""

from __future__ import annotations

import pytest

from console.core.stacks import STACKS
from console.sim.containers import deployed_services, expected_services

ROLES = [
    (stack, role, serves)
    for stack, adapter in STACKS.items()
    for role in adapter.roles
    for serves in (False, True)
]


@pytest.mark.parametrize(("stack", "role", "serves"), ROLES)
def test_the_simulators_release_runs_what_the_product_expects(stack, role, serves):
    adapter = STACKS[stack]
    assert expected_services(stack, role, serves) == adapter.expected_containers(role, serves)
    assert deployed_services(stack, role, serves) == adapter.known_containers(role, serves)
