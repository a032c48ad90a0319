"""CometBFT's RPC of a simulated chain node (reference/protocols.md §2): status, net_info,
validators and broadcast_tx_sync, in JSON-RPC envelopes."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from console.sim.chain import ChainSim, rfc3339
from console.sim.http import Request, Response, Router, json_response

if TYPE_CHECKING:
    from console.sim.node import SimNode


COMETBFT_VERSION = "0.38.17"


def rpc_envelope(result: Any, rid: Any = -1) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def _node_info(chain: ChainSim, moniker: str, node_id: str) -> dict:
    return {
        "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
        "id": node_id,
        "listen_addr": "tcp://0.0.0.0:26656",
        "network": chain.chain_id,
        "version": COMETBFT_VERSION,
        "channels": "40202122233038606100",
        "moniker": moniker,
        "other": {"tx_index": "on", "rpc_address": "tcp://0.0.0.0:26657"},
    }


def cometbft_status(node: SimNode) -> dict:
    chain = node.chain
    assert chain is not None
    h = chain.height()
    catching_up = chain.faults.catching_up
    if catching_up:
        h = max(chain.start_height, h - 500)
    return {
        "node_info": _node_info(chain, node.name, chain.node_id),
        "sync_info": {
            "latest_block_hash": chain.block_hash(h),
            "latest_app_hash": chain.block_hash(-h),
            "latest_block_height": str(h),
            "latest_block_time": rfc3339(chain.block_time_of(h)),
            "earliest_block_hash": chain.block_hash(chain.start_height),
            "earliest_app_hash": chain.block_hash(-chain.start_height),
            "earliest_block_height": str(chain.start_height),
            "earliest_block_time": rfc3339(chain.t0),
            "catching_up": catching_up,
        },
        "validator_info": {
            "address": chain.validator_address,
            "pub_key": {"type": "tendermint/PubKeyEd25519", "value": chain.validator_key},
            "voting_power": str(chain.our_voting_power()),
        },
    }


def cometbft_net_info(node: SimNode) -> dict:
    chain = node.chain
    assert chain is not None
    peers = []
    if not chain.faults.no_peers:
        for i, (_key, addr) in enumerate(chain.others, start=1):
            now = rfc3339(chain.t0)
            monitor = {
                "Start": now,
                "Bytes": "7296",
                "Samples": "19",
                "InstRate": "141",
                "CurRate": "158",
                "AvgRate": "381",
                "PeakRate": "14230",
                "BytesRem": "0",
                "Duration": "19160000000",
                "Idle": "4300000000",
                "TimeRem": "0",
                "Progress": 0,
                "Active": True,
            }
            peers.append(
                {
                    "node_info": _node_info(chain, f"peer{i}", addr.lower()),
                    "is_outbound": i % 2 == 1,
                    "connection_status": {
                        "Duration": "19154074470",
                        "SendMonitor": monitor,
                        "RecvMonitor": monitor,
                        "Channels": [],
                    },
                    "remote_ip": f"203.0.113.{10 + i}",
                }
            )
    return {
        "listening": True,
        "listeners": ["Listener(@)"],
        "n_peers": str(len(peers)),
        "peers": peers,
    }


def cometbft_validators(node: SimNode, page: int = 1, per_page: int = 30) -> dict:
    chain = node.chain
    assert chain is not None
    per_page = max(1, min(per_page, 100))
    vals = chain.validators()
    chunk = vals[(page - 1) * per_page : page * per_page]
    return {
        "block_height": str(chain.height()),
        "validators": [
            {
                "address": a,
                "pub_key": {"type": "tendermint/PubKeyEd25519", "value": k},
                "voting_power": str(p),
                "proposer_priority": "0",
            }
            for a, k, p in chunk
        ],
        "count": str(len(chunk)),
        "total": str(len(vals)),
    }


def cometbft_router(node: SimNode) -> Router:
    r = Router()
    methods = {
        "status": lambda q: cometbft_status(node),
        "net_info": lambda q: cometbft_net_info(node),
        "health": lambda q: {},
        "validators": lambda q: cometbft_validators(
            node, int(q.get("page", 1) or 1), int(q.get("per_page", 30) or 30)
        ),
    }
    for name, fn in methods.items():
        r.add("GET", f"/{name}", lambda req, fn=fn: json_response(rpc_envelope(fn(req.query))))

    def broadcast(params: dict) -> dict:
        return broadcast_tx(node, params.get("tx", ""))

    def jsonrpc(req: Request) -> Response:
        try:
            call = req.json()
            if call["method"] == "broadcast_tx_sync":
                return json_response(
                    rpc_envelope(broadcast(call.get("params") or {}), call.get("id", -1))
                )
            fn = methods[call["method"]]
        except (ValueError, KeyError, TypeError):
            return json_response(
                {
                    "jsonrpc": "2.0",
                    "id": -1,
                    "error": {"code": -32601, "message": "Method not found", "data": ""},
                }
            )
        params = {k: str(v) for k, v in (call.get("params") or {}).items()}
        return json_response(rpc_envelope(fn(params), call.get("id", -1)))

    r.add("POST", "/", jsonrpc)
    return r


def broadcast_tx(node: SimNode, tx_b64: str) -> dict:
    """The simulator's transactions: base64 of a JSON object {"type": ..., ...}.

    Real transactions are signed protobuf; the simulated `inferenced` sends this instead.
    The result is CometBFT's broadcast_tx_sync shape.
    """
    chain = node.chain
    assert chain is not None
    try:
        tx = json.loads(base64.b64decode(tx_b64))
        kind = tx["type"]
        if kind == "grant-ml-ops-permissions":
            record = chain.grant_ml_ops(tx["granter"], tx["grantee"])
        elif kind == "submit-new-participant":
            chain.signed_by(tx["from"], tx["pubkey"])
            chain.register(tx["url"], tx["pubkey"], tx["validator_key"])
            record = chain.tx("submit-new-participant", creator=tx["from"])
        elif kind == "gov-vote":
            chain.signed_by(tx["from"], tx["pubkey"])
            record = chain.vote(int(tx["proposal"]), tx["from"], tx["option"])
        elif kind == "unjail":
            chain.faults.jailed = False
            record = chain.tx("unjail", validator=tx.get("from", ""))
        else:
            raise KeyError(f"unknown message type {kind}")
    except (ValueError, KeyError, TypeError) as exc:
        return {"code": 5, "data": "", "log": str(exc).strip("'\""), "codespace": "sdk", "hash": ""}
    return {
        "code": 0,
        "data": "",
        # the simulator's note to its CLI: a grant found a fee allowance and kept it
        "log": "allowance_kept" if record.get("allowance_kept") else "[]",
        "codespace": "",
        "hash": record["txhash"],
        "height": record["height"],
    }
