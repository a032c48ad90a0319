"""The Gonka stack's status collectors: the chain as its network node sees it (CometBFT
RPC, the public API's epoch and participants, the admin API's ML nodes and setup report),
and its ML nodes' health and inference latency. Used by the monitor only: screens ask
the registry (console/core/stacks/), which never imports an HTTP client.
"""

from __future__ import annotations

from dataclasses import replace

import httpx

from console.core.monitor.collect import Collector, NodeHttp, chat, service, timed
from console.core.profile.schema import StackSection
from console.core.stacks.gonka import CHAIN_CONTAINER, RPC_PORT, chain_rpc_address
from console.core.stacks.gonka_api import (
    Epoch,
    EpochStats,
    read_epoch,
    read_epoch_participants,
    read_epoch_stats,
    read_versions,
)
from console.core.state import Chain, NodeStatus, Service
from console.core.times import rfc3339_seconds

ML_NODE_PORT, INFERENCE_PORT, ADMIN_PORT = 8080, 5050, 9200


class GonkaCollector(Collector):
    def wants(self, role: str, serves_model: bool) -> bool:
        return role == "network" or serves_model

    def chain(
        self, http: NodeHttp, settings: StackSection, status: NodeStatus, full: bool = True
    ) -> Chain:
        node = next((c for c in status.containers if c.name == CHAIN_CONTAINER), None)
        rpc = (
            chain_rpc_address(node.published, node.addresses) if node else chain_rpc_address((), ())
        )
        return read_chain(http, settings.api_port, rpc, kept=None if full else status.chain)

    def services(
        self,
        http: NodeHttp,
        settings: StackSection,
        role: str,
        serves_model: bool,
        model: str | None,
        measure_latency: bool,
    ) -> list[Service]:
        if not (role == "ml" or serves_model):
            return []
        r, ms, err = timed(lambda: http.get(ML_NODE_PORT, "/health"))
        out = [service("ml node", r, ms, err)]
        r, ms, err = timed(lambda: http.get(INFERENCE_PORT, "/health"))
        out.append(service("inference", r, ms, err))
        if measure_latency and out[-1].ok and model:
            out.append(chat("inference latency", http, INFERENCE_PORT, model))
        return out


def read_chain(
    http: NodeHttp,
    api_port: int = 8000,
    rpc: tuple[str, int] = ("127.0.0.1", RPC_PORT),
    kept: Chain | None = None,
) -> Chain:
    """The chain as the network node sees it; `rpc` is where its CometBFT RPC answers on
    the node (console.core.stacks.gonka.chain_rpc_address). Given `kept` (the last read),
    only what moves with each block is asked (the RPC's status, the epoch: two requests
    of nine) and the rest kept; a new epoch, or an API that does not answer, is read whole."""
    host, port = rpc
    status = http.json(port, "/status", host)["result"]
    if kept is not None:
        try:
            epoch = read_epoch(http.json(api_port, "/v1/epochs/latest"))
        except (httpx.HTTPError, KeyError, ValueError):
            epoch = None
        if epoch is not None and epoch.index == kept.epoch:
            return replace(kept, **block_values(status), **epoch_values(epoch))
    ours = status["validator_info"]["address"]
    net = http.json(port, "/net_info", host)["result"]
    in_set = False
    page, seen = 1, 0
    while True:
        vals = http.json(port, f"/validators?page={page}&per_page=100", host)["result"]
        in_set = in_set or any(v["address"] == ours for v in vals["validators"])
        seen += len(vals["validators"])
        if in_set or seen >= int(vals["total"]) or not vals["validators"]:
            break
        page += 1
    chain = block_values(status) | {"peers": int(net["n_peers"]), "validator_in_set": in_set}
    try:
        epoch = read_epoch(http.json(api_port, "/v1/epochs/latest"))
        chain.update(epoch_values(epoch))
        key = status["validator_info"]["pub_key"]["value"]
        participants = read_epoch_participants(
            http.json(api_port, "/v1/epochs/current/participants")
        )
        ours_p = participants.by_validator_key(key)
        chain["in_epoch"] = ours_p is not None
        chain["participant_weight"] = ours_p.weight if ours_p else None
        if ours_p is not None:
            chain.update(epoch_misses(http, api_port, ours_p.index, epoch.index))
        versions = read_versions(http.json(api_port, "/v1/versions"))
        chain.update(
            api_version=versions.api, node_version=versions.node, ml_versions=versions.mlnodes
        )
    except (httpx.HTTPError, KeyError, ValueError):  # ApiShapeError is a ValueError
        pass  # the public API may be down while the chain runs; the RPC values stand
    try:
        nodes = http.json(ADMIN_PORT, "/admin/v1/nodes")
        chain["ml_nodes"] = tuple(
            (
                n["node"]["id"],
                n["state"]["current_status"],
                bool(n["state"].get("admin_state", {}).get("enabled", True)),
            )
            for n in nodes
        )
        report = http.json(ADMIN_PORT, "/admin/v1/setup/report")
        chain["setup_failed"] = tuple(c["id"] for c in report["checks"] if c["status"] == "FAIL")
    except (httpx.HTTPError, KeyError, ValueError):
        pass
    return Chain(**chain)


def block_values(status: dict) -> dict:
    """What the RPC's `/status` says that moves with each block."""
    sync = status["sync_info"]
    return {
        "height": int(sync["latest_block_height"]),
        "block_time": rfc3339_seconds(sync["latest_block_time"]),
        "catching_up": bool(sync["catching_up"]),
        "voting_power": int(status["validator_info"]["voting_power"]),
    }


def epoch_values(epoch: Epoch) -> dict:
    return {
        "epoch": epoch.index,
        "phase": epoch.phase,
        "blocks_to_poc": epoch.blocks_to_poc,
        "confirmation_poc": epoch.confirmation_poc,
        "window_at": epoch.window_at,
    }


INFERENCE_MODULE = "/chain-api/productscience/inference/inference"
_LAST_EPOCH: dict[tuple[str, int], EpochStats] = {}  # (participant, past epoch) -> its stats


def epoch_misses(http: NodeHttp, api_port: int, address: str, epoch: int) -> dict:
    """The participant's inferences and misses this epoch and the last, from the chain's
    participant statistics through the host's proxy; what cannot be read is left out."""
    out: dict = {}
    try:
        now = read_epoch_stats(http.json(api_port, f"{INFERENCE_MODULE}/participant/{address}"))
        out.update(inferences=now.inferences, missed=now.missed)
        last = _LAST_EPOCH.get((address, epoch - 1))
        if last is None:  # a finished epoch's summary does not change: asked once
            summary = f"{INFERENCE_MODULE}/epoch_performance_summary/{epoch - 1}/{address}"
            last = read_epoch_stats(http.json(api_port, summary))
            if len(_LAST_EPOCH) > 1000:  # participants × epochs a console outlives: bounded
                _LAST_EPOCH.clear()
            _LAST_EPOCH[(address, epoch - 1)] = last
        out.update(last_epoch_inferences=last.inferences, last_epoch_missed=last.missed)
    except (httpx.HTTPError, KeyError, ValueError):
        pass  # an older chain or a first epoch: no statistics is no alert
    return out


COLLECTOR = GonkaCollector()
