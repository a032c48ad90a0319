"""Where a Gonka network node's chain RPC is reached: published (older compose files) or
at the `node` container's address (0.2.9 and later publish only P2P)."""

from __future__ import annotations

import json

from console.core.stacks.gonka import chain_rpc_address, inspect_networking


def test_a_published_rpc_is_reached_on_the_hosts_loopback_or_its_bound_address():
    assert chain_rpc_address([(26656, "0.0.0.0", 5000), (26657, "0.0.0.0", 26657)], []) == (
        "127.0.0.1",
        26657,
    )
    assert chain_rpc_address([(26657, "::", 36657)], ["172.18.0.4"]) == ("127.0.0.1", 36657)
    assert chain_rpc_address([(26657, "10.0.0.5", 26657)], []) == ("10.0.0.5", 26657)


def test_an_unpublished_rpc_is_reached_at_the_containers_address():
    assert chain_rpc_address([(26656, "0.0.0.0", 5000)], ["", "172.18.0.4"]) == (
        "172.18.0.4",
        26657,
    )
    # no container (a chain run by systemd, say): the node's own default
    assert chain_rpc_address([], []) == ("127.0.0.1", 26657)


def test_docker_inspect_networking_as_docker_prints_it(reference):
    sample = reference / "real/docker/docker_inspect_container_compose__python-on-whales_18.json"
    inspect = json.loads(sample.read_text())
    inspect = inspect[0] if isinstance(inspect, list) else inspect
    published, addresses = inspect_networking(inspect)
    assert published == [(5432, "0.0.0.0", 5432), (5432, "::", 5432)]
    assert addresses == ["172.21.0.2"]
    # a stopped container: no ports, an empty address; an exposed, unpublished port: null
    stopped = {
        "NetworkSettings": {"Ports": {"26657/tcp": None}, "Networks": {"n": {"IPAddress": ""}}}
    }
    assert inspect_networking(stopped) == ([], [])
    assert inspect_networking({}) == ([], [])


def test_the_probe_reads_the_same_networking_from_the_node(reference):
    from console.core import probe  # runs on the node on its own; it must agree with the core

    sample = reference / "real/docker/docker_inspect_container_compose__python-on-whales_18.json"
    inspect = json.loads(sample.read_text())
    inspect = inspect[0] if isinstance(inspect, list) else inspect
    line = probe._container({"Names": ["/db"]}, inspect)
    published, addresses = inspect_networking(inspect)
    assert [tuple(p) for p in line["published"]] == published
    assert line["addresses"] == addresses
