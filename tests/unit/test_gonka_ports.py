"""Where a Gonka node's private ports are bound (Gonka's compose files publish them on every
interface, and docker's rules come before ufw's)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from actions.engine import StepFailed
from actions.stacks.gonka import bind_address
from console.core.stacks.gonka import private_bindings


def test_a_remote_ml_nodes_callback_port_is_bound_to_the_private_address_only():
    net = private_bindings("network", False, "10.0.0.5", remote_ml=True)
    assert net == {
        "api": (("127.0.0.1", 9100, 9100), ("10.0.0.5", 9100, 9100), ("127.0.0.1", 9200, 9200))
    }
    alone = private_bindings("network", True, "10.0.0.5", remote_ml=False)
    assert {ip for ip, _, _ in alone["api"] + alone["inference"]} == {"127.0.0.1"}
    ml = private_bindings("ml", True, "10.0.0.7", remote_ml=False)
    assert set(ml["inference"]) == {
        ("127.0.0.1", 8080, 8080),
        ("10.0.0.7", 8080, 8080),
        ("127.0.0.1", 5050, 5000),
        ("10.0.0.7", 5050, 5000),
    }


@pytest.mark.parametrize("host", ["8.8.8.8", "gpu1.example.com", "0.0.0.0"])
def test_a_public_or_unknown_address_is_refused_with_the_fix(host):
    with pytest.raises(StepFailed, match="set private_ip for n1"):
        bind_address(SimpleNamespace(name="n1", private_ip=None, host=host))


def test_private_ip_wins_over_a_public_host():
    node = SimpleNamespace(name="n1", private_ip="10.1.2.3", host="8.8.8.8")
    assert bind_address(node) == "10.1.2.3"
