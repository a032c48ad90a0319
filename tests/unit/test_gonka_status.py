"""The network node's chain read whole or light (console/core/stacks/gonka_status.py):
CometBFT's real answers (reference/real/cometbft, read in place) and the public API's
epoch; a light read asks only what moves with each block and keeps the rest."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest

from console.core.stacks.gonka_status import RPC_PORT, read_chain
from tests.unit.test_gonka_api import EPOCH_0214

API = 8000
EPOCH = EPOCH_0214  # a v0.2.14 answer of /v1/epochs/latest (test_gonka_api.py)


class Node:
    """A network node's answers by path; every path asked is noted. The public and admin
    APIs other than the epoch are down (connection refused), as on a node whose api
    container stopped: the chain's RPC values stand."""

    def __init__(self, reference) -> None:
        real = reference / "real" / "cometbft"
        self.docs = {
            (RPC_PORT, "/status"): json.loads(
                (real / "status_cosmoshub-4_cometbft-0.37.6.json").read_text()
            ),
            (RPC_PORT, "/net_info"): json.loads(
                (real / "net_info_pylons-3node-testnet_tendermint-0.33.3.json").read_text()
            ),
            (API, "/v1/epochs/latest"): EPOCH,
        }
        self.validators = json.loads(
            (real / "validators_cosmoshub-4_h21955392_page1.json").read_text()
        )
        self.asked: list[str] = []

    def json(self, port: int, path: str, host: str = "127.0.0.1"):
        self.asked.append(path)
        if path.startswith("/validators"):
            return self.validators
        if (port, path) not in self.docs:
            raise httpx.ConnectError("connection refused")
        return self.docs[(port, path)]

    def block(self, height: int) -> None:
        status = self.docs[(RPC_PORT, "/status")]
        status["result"]["sync_info"]["latest_block_height"] = str(height)


@pytest.fixture
def node(reference):
    return Node(reference)


def test_a_whole_read_asks_the_rpc_and_every_api(node):
    chain = read_chain(node, API)
    assert (chain.height, chain.catching_up, chain.voting_power) == (21076916, False, 0)
    assert chain.peers == 2 and chain.validator_in_set is False  # not in the 180
    assert (chain.epoch, chain.phase, chain.blocks_to_poc) == (56, "Inference", 927361 - 887711)
    assert {"/status", "/net_info", "/v1/epochs/latest", "/admin/v1/nodes"} <= set(node.asked)
    assert any(p.startswith("/validators?page=2") for p in node.asked)  # all 180 looked at


def test_a_light_read_asks_two_paths_moves_the_block_and_keeps_the_rest(node):
    whole = read_chain(node, API)
    kept = replace(whole, peers=7, ml_nodes=(("mlnode-1", "INFERENCE", True),))
    node.asked.clear()
    node.block(whole.height + 3)
    light = read_chain(node, API, kept=kept)
    assert node.asked == ["/status", "/v1/epochs/latest"]
    assert light.height == whole.height + 3
    assert light.peers == 7 and light.ml_nodes == (("mlnode-1", "INFERENCE", True),)  # kept
    assert light.epoch == 56 and light.blocks_to_poc == whole.blocks_to_poc


def test_a_new_epoch_or_an_api_that_does_not_answer_is_read_whole(node):
    kept = read_chain(node, API)
    node.docs[(API, "/v1/epochs/latest")] = dict(EPOCH, latest_epoch={"index": 57})
    node.asked.clear()
    fresh = read_chain(node, API, kept=replace(kept, peers=7))
    assert "/net_info" in node.asked and fresh.peers == 2  # the participants may have changed
    del node.docs[(API, "/v1/epochs/latest")]
    node.asked.clear()
    down = read_chain(node, API, kept=replace(kept, peers=7))
    assert "/net_info" in node.asked and down.peers == 2 and down.epoch is None
