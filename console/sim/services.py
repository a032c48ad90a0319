"""The emulated HTTP APIs of a node, in the real shapes (reference/protocols.md):
CometBFT RPC, the Gonka public and admin APIs, the ML node API, vLLM and Ollama.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import re
import time
from typing import TYPE_CHECKING, Any

from console.sim.chain import STATUS_CODES, ChainSim, account_address, rfc3339
from console.sim.http import Request, Response, Router, json_response, text_response
from console.sim.ollama import BUSY as OLLAMA_BUSY
from console.sim.ollama import DEFAULTS as OLLAMA_DEFAULTS
from console.sim.ollama import GENERATION_S, keep_alive_seconds, model_size
from console.sim.ollama import LATEST as OLLAMA_LATEST

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


# ---------------------------------------------------------------- CometBFT RPC


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


# ---------------------------------------------------------------- Gonka public API


def public_router(node: SimNode) -> Router:
    """The dapi public API as the proxy serves it on :8000, with /chain-rpc/ behind it."""
    chain = node.chain
    assert chain is not None
    r = Router()

    def guard(fn):
        def wrapped(req: Request) -> Response:
            if not node.containers.running("api"):
                return text_response(
                    "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "text/html"
                )
            return fn(req)

        return wrapped

    def participants(req: Request) -> Response:
        return json_response(
            {
                "participants": [
                    {
                        "id": p.address,
                        "url": p.url,
                        "coins_owed": 0,
                        "refunds_owed": 0,
                        "balance": 0,
                        "voting_power": p.weight,
                        "reputation": 0,
                    }
                    for p in chain.participants.values()
                ],
                "block_height": chain.height(),
            }
        )

    def participant(req: Request) -> Response:
        p = chain.participants.get(req.params["address"])
        if p is None:
            return json_response({"error": "participant not found"}, 404)
        return json_response(
            {
                "participant": {
                    "index": p.address,
                    "address": p.address,
                    "weight": p.weight,
                    "join_time": str(int(chain.t0 * 1000)),
                    "join_height": str(p.join_height),
                    "last_inference_time": "0",
                    "inference_url": p.url,
                    "status": p.status,
                    "coin_balance": "0",
                    "validator_key": p.validator_key,
                    "consecutive_invalid_inferences": "0",
                    "worker_public_key": "",
                    "epochs_completed": 0,
                }
            }
        )

    def participant_v2(req: Request) -> Response:
        """The chain's QueryGetParticipantResponse as Go's encoding/json writes the protobuf
        struct: snake_case, the status a number, zero values left out (omitempty)."""
        p = chain.participants.get(req.params["address"])
        if p is None:
            return json_response(
                {"message": "rpc error: code = NotFound desc = not found: key not found"}, 404
            )
        fields = {
            "index": p.address,
            "address": p.address,
            "weight": p.weight,
            "join_time": int(chain.t0 * 1000),
            "join_height": p.join_height,
            "inference_url": p.url,
            "status": STATUS_CODES[p.status],
            "validator_key": p.validator_key,
            "epochs_completed": max(0, (chain.height() - p.join_height) // chain.epoch_length),
        }
        return json_response({"participant": {k: v for k, v in fields.items() if v}})

    def account_v2(req: Request) -> Response:
        p = chain.participants.get(req.params["address"])
        if p is None:
            return json_response({"message": "account not found"}, 404)
        return json_response({"pubkey": p.account_pubkey, "balance": p.balance, "denom": "ngonka"})

    def auth_account(req: Request) -> Response:
        """The Cosmos REST answer for x/auth's account (the proxy's /chain-api/)."""
        address = req.params["address"]
        acct = chain.accounts.get(address)
        if acct is None:
            return json_response(
                {
                    "code": 5,
                    "message": f"account {address} not found: key not found",
                    "details": [],
                },
                404,
            )
        pub = acct.get("pub_key")
        return json_response(
            {
                "account": {
                    "@type": "/cosmos.auth.v1beta1.BaseAccount",
                    "address": address,
                    "pub_key": {"@type": "/cosmos.crypto.secp256k1.PubKey", "key": pub}
                    if pub
                    else None,
                    "account_number": str(acct["account_number"]),
                    "sequence": str(acct["sequence"]),
                }
            }
        )

    def governance_models(req: Request) -> Response:
        return json_response(
            {"models": [{"id": m, "proposed_by": "gonka1gov"} for m in node.approved_models()]}
        )

    def submit(req: Request) -> Response:
        body = req.json() or {}
        if chain.funded_unsigned(str(body.get("address", ""))):
            # MsgSubmitNewUnfundedParticipant on an account that exists, sequence 0
            return json_response(
                {
                    "error": "panic: runtime error: invalid memory address or nil pointer "
                    "dereference [signal SIGSEGV: segmentation violation]"
                },
                500,
            )
        try:
            p = chain.register(
                body["url"], body["pub_key"], body.get("validator_key"), body.get("models")
            )
        except (KeyError, TypeError, ValueError) as exc:
            return json_response({"error": f"invalid participant: {exc}"}, 400)
        chain.open_account(p.address, body["pub_key"])  # the unfunded path makes it
        return json_response({"address": p.address, "url": p.url})

    def epoch_participants(req: Request) -> Response:
        epoch = chain.epoch()
        active = [p for p in chain.participants.values() if chain.in_epoch(p)]
        return json_response(
            {
                "active_participants": {
                    "participants": [
                        {
                            "index": p.address,
                            "validator_key": p.validator_key,
                            "weight": p.weight,
                            "inference_url": p.url,
                            "models": p.models,
                            "seed": {
                                "participant": p.address,
                                "epoch_index": epoch["latest_epoch"]["index"],
                                "signature": "",
                            },
                            "ml_nodes": [
                                {
                                    "ml_nodes": [
                                        {
                                            "node_id": n["id"],
                                            "poc_weight": 2300,
                                            "timeslot_allocation": [True, False],
                                        }
                                        for n in node.admin_nodes.values()
                                    ]
                                }
                            ],
                        }
                        for p in active
                    ],
                    "epoch_group_id": epoch["latest_epoch"]["index"],
                    "poc_start_block_height": epoch["latest_epoch"]["poc_start_block_height"],
                    "effective_block_height": epoch["latest_epoch"]["poc_start_block_height"] + 2,
                    "created_at_block_height": epoch["latest_epoch"]["poc_start_block_height"],
                    "epoch_id": epoch["latest_epoch"]["index"],
                },
                "addresses": [p.address for p in active],
                "validators": [
                    {"address": a, "pub_key": k, "voting_power": v, "proposer_priority": 0}
                    for a, k, v in chain.validators()
                ],
            }
        )

    def mlnode_metrics(req: Request) -> Response:
        return text_response(
            mlnode_metrics_text(node), content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    r.add("GET", "/v1/status", guard(lambda req: json_response({"status": "ok"})))
    r.add("GET", "/health", lambda req: text_response("OK"))
    r.add("GET", "/v1/mlnodes/metrics", guard(mlnode_metrics))
    r.add("GET", "/v1/participants", guard(participants))
    r.add("POST", "/v1/participants", guard(submit))
    r.add("GET", "/v1/participants/:address", guard(participant))
    r.add("GET", "/v2/participants/:address", guard(participant_v2))
    r.add("GET", "/v2/accounts/:address", guard(account_v2))
    r.add("GET", "/v1/governance/models", guard(governance_models))
    r.add("GET", "/chain-api/cosmos/auth/v1beta1/accounts/:address", guard(auth_account))
    r.add("GET", "/v1/epochs/latest", guard(lambda req: json_response(chain.epoch())))
    r.add("GET", "/v1/epochs/current/participants", guard(epoch_participants))
    rpc = cometbft_router(node)
    for method, regex, handler in rpc.routes:
        pattern = "/chain-rpc" + regex.pattern[1:-1]
        r.add(
            method,
            pattern.rstrip("/") + "/?" if method == "POST" else pattern,
            _needs(node, "node", handler),
        )
    return r


# the families of /v1/mlnodes/metrics this simulator serves (reference/operations.md §6)
MLNODE_FAMILIES = (
    ("mlnode_up", "gauge", "Whether the ML node's metrics were read (1) or not (0)."),
    ("mlnode_gpu_temp_core_celsius", "gauge", "GPU core temperature."),
    ("mlnode_gpu_power_draw_watts", "gauge", "GPU power draw."),
    ("mlnode_gpu_memory_used_bytes", "gauge", "GPU memory used."),
    ("mlnode_gpu_ecc_dbe_total", "counter", "Double-bit ECC errors."),
    ("mlnode_gpu_xid_events_total", "counter", "Xid events by GPU and Xid."),
)


def mlnode_metrics_text(node: SimNode) -> str:
    """What the network node's dapi federates from its registered ML nodes: each one's
    `mlnode_up` and, while it is up, its GPUs (labels node_id, gpu_index[, xid])."""
    rows: dict[str, list[str]] = {name: [] for name, _, _ in MLNODE_FAMILIES}
    for entry in node.admin_nodes.values():
        own = entry["host"] == "inference"
        ml = node if own else node.fleet.node_by_host(entry["host"]) if node.fleet else None
        nid = entry["id"]
        up = ml is not None and ml.containers.healthy("mlnode-308")
        rows["mlnode_up"].append(f'mlnode_up{{node_id="{nid}"}} {int(up)}')
        if not up:
            continue
        snap = ml.gpu_snapshot()
        for g in snap.visible:
            lab = f'node_id="{nid}",gpu_index="{g.index}"'
            rows["mlnode_gpu_temp_core_celsius"].append(
                f"mlnode_gpu_temp_core_celsius{{{lab}}} {g.temperature}"
            )
            rows["mlnode_gpu_power_draw_watts"].append(
                f"mlnode_gpu_power_draw_watts{{{lab}}} {g.power_draw_w}"
            )
            rows["mlnode_gpu_memory_used_bytes"].append(
                f"mlnode_gpu_memory_used_bytes{{{lab}}} {g.memory_used_mib * 1024 * 1024}"
            )
            rows["mlnode_gpu_ecc_dbe_total"].append(
                f"mlnode_gpu_ecc_dbe_total{{{lab}}} {g.ecc_uncorrected_volatile}"
            )
        counts: dict[tuple[int, int], int] = {}
        for _, index, xid in snap.xid_events:
            counts[(index, xid)] = counts.get((index, xid), 0) + 1
        for (index, xid), n in sorted(counts.items()):
            lab = f'node_id="{nid}",gpu_index="{index}",xid="{xid}"'
            rows["mlnode_gpu_xid_events_total"].append(f"mlnode_gpu_xid_events_total{{{lab}}} {n}")
    out = []
    for name, kind, text in MLNODE_FAMILIES:
        out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *rows[name]]
    return "\n".join(out) + "\n"


def _needs(node: SimNode, container: str, handler):
    def wrapped(req: Request):
        if not node.containers.running(container):
            return text_response(
                "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "text/html"
            )
        return handler(req)

    return wrapped


# ---------------------------------------------------------------- Gonka admin API


def admin_router(node: SimNode) -> Router:
    r = Router()

    def state_of(entry: dict) -> dict:
        # a network node's own ML node is its compose service `inference`, on this node
        own = entry["host"] == "inference"
        ml = node if own else node.fleet.node_by_host(entry["host"]) if node.fleet else None
        ok = (
            ml is not None
            and ml.containers.healthy("mlnode-308")
            and ml.containers.running("inference")
            and not ml.faults.get("inference_503")
        )
        epoch = node.chain.epoch()["latest_epoch"]["index"] if node.chain else 0
        return {
            "intended_status": "INFERENCE",
            "current_status": "INFERENCE" if ok else "FAILED",
            "poc_intended_status": "IDLE",
            "poc_current_status": "IDLE",
            "lock_count": 0,
            "failure_reason": "" if ok else "inference health check failed",
            "status_timestamp": rfc3339(time.time()),
            "admin_state": {"enabled": entry.get("_enabled", True), "epoch": epoch},
            "epoch_models": {},
            "epoch_ml_nodes": {},
        }

    def public(entry: dict) -> dict:
        return {k: v for k, v in entry.items() if not k.startswith("_")}

    def listing(req: Request) -> Response:
        return json_response(
            [{"node": public(e), "state": state_of(e)} for e in node.admin_nodes.values()]
        )

    def validate(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "body must be a node object"
        for key in ("id", "host", "inference_port", "poc_port", "max_concurrent", "models"):
            if key not in body:
                return f"missing field {key}"
        approved = node.approved_models()
        for model in body["models"]:
            if model not in approved:
                return f"model {model} is not a governance-approved model"
        return None

    def upsert(body: dict) -> dict:
        entry = {**node.admin_nodes.get(body["id"], {}), **body}
        entry.setdefault("node_num", len(node.admin_nodes) + 1)
        entry.setdefault("hardware", [])
        entry.setdefault("version", "")
        node.admin_nodes[body["id"]] = entry
        return public(entry)

    def add(req: Request) -> Response:
        body = req.json()
        if req.params.get("id") and isinstance(body, dict):
            body.setdefault("id", req.params["id"])
        error = validate(body)
        if error:
            return json_response({"error": error}, 400)
        return json_response(upsert(body))

    def batch(req: Request) -> Response:
        body = req.json()
        if not isinstance(body, list) or not body:
            return json_response({"error": "body must be a non-empty array of nodes"}, 400)
        nodes, errors = [], []
        for item in body:
            error = validate(item)
            if error:
                errors.append(
                    {"node_id": item.get("id") if isinstance(item, dict) else None, "error": error}
                )
            else:
                nodes.append(upsert(item))
        if not nodes:
            return json_response({"nodes": [], "errors": errors}, 400)
        return json_response({"nodes": nodes, "errors": errors}, 206 if errors else 201)

    def delete(req: Request) -> Response:
        entry = node.admin_nodes.pop(req.params["id"], None)
        if entry is None:
            return json_response({"error": f"node {req.params['id']} not found"}, 404)
        return json_response(public(entry))

    def toggle(enabled: bool):
        def handler(req: Request) -> Response:
            entry = node.admin_nodes.get(req.params["id"])
            if entry is None:
                return json_response({"error": f"node {req.params['id']} not found"}, 404)
            entry["_enabled"] = enabled
            word = "enabled" if enabled else "disabled"
            return json_response(
                {"message": f"node {word} successfully", "node_id": req.params["id"]}
            )

        return handler

    r.add("GET", "/admin/v1/nodes", listing)
    r.add("POST", "/admin/v1/nodes", add)
    r.add("POST", "/admin/v1/nodes/batch", batch)
    r.add("PUT", "/admin/v1/nodes/:id", add)
    r.add("DELETE", "/admin/v1/nodes/:id", delete)
    r.add("POST", "/admin/v1/nodes/:id/enable", toggle(True))
    r.add("POST", "/admin/v1/nodes/:id/disable", toggle(False))
    r.add("GET", "/admin/v1/setup/report", lambda req: json_response(setup_report(node)))
    return r


# the message types the cold key grants the warm key (x/inference/permissions.go, v0.2.14)
ML_OPS_PERMISSIONS = tuple(
    f"/inference.inference.{m}"
    for m in (
        "MsgStartInference",
        "MsgFinishInference",
        "MsgClaimRewards",
        "MsgValidation",
        "MsgSubmitPocBatch",
        "MsgSubmitPocValidationsV2",
        "MsgPoCV2StoreCommit",
        "MsgMLNodeWeightDistribution",
        "MsgSubmitSeed",
        "MsgBridgeExchange",
        "MsgSubmitNewUnfundedParticipant",
        "MsgSubmitHardwareDiff",
        "MsgInvalidateInference",
        "MsgRevalidateInference",
    )
) + tuple(
    f"/inference.bls.{m}"
    for m in (
        "MsgSubmitDealerPart",
        "MsgSubmitVerificationVector",
        "MsgRespondDealerComplaints",
        "MsgRequestThresholdSignature",
        "MsgSubmitPartialSignature",
        "MsgSubmitGroupKeyValidationSignature",
    )
)
RECOMMENDATIONS = {
    "cold_key_configured": "Verify ACCOUNT_PUBKEY environment variable is set correctly",
    "cold_key_not_in_keyring": "Remove cold key from keyring - it should only be in "
    "environment config",
    "warm_key_in_keyring": "Ensure warm key exists in keyring at configured location",
    "warm_key_address_match": "Check KEY_NAME environment variable matches keyring key name",
    "permissions_granted": "Run authz grant commands. See "
    "inference-chain/x/inference/permissions.go",
    "feegrant_allowance": "Run `inferenced tx inference grant-ml-ops-permissions <cold-key> "
    "<warm-address>` to (re)grant the fee allowance",
    "consensus_key_match": "Verify validator node is running and consensus key matches "
    "participant registration",
    "active_in_epoch": "Check PoC participation and ensure node is properly registered",
    "block_sync": "Check chain node is running and syncing properly",
}
WEEK_S = 7 * 24 * 3600


def _check(cid: str, status: str, message: str, details: dict | None = None) -> dict:
    out = {"id": cid, "status": status, "message": message}
    if details is not None:  # `details,omitempty`
        out["details"] = details
    return out


def _key_checks(node: SimNode, env: dict[str, str], warm: dict | None) -> list[dict]:
    pubkey = env.get("ACCOUNT_PUBKEY", "")
    cold = account_address(pubkey) if pubkey else ""
    checks = [
        _check(
            "cold_key_configured",
            "PASS",
            "Cold key is configured",
            {"address": cold, "pubkey": pubkey},
        )
        if pubkey
        else _check("cold_key_configured", "FAIL", "Cold key is not configured")
    ]
    in_keyring = any(i.get("address") == cold for i in node.keyring().values()) if cold else False
    checks.append(
        _check(
            "cold_key_not_in_keyring",
            "FAIL",
            "Cold key is in keyring (should only be in environment config)",
        )
        if in_keyring
        else _check("cold_key_not_in_keyring", "PASS", "Cold key correctly NOT in keyring")
    )
    name = env.get("KEY_NAME", "")
    if warm is None:
        checks.append(
            _check(
                "warm_key_in_keyring",
                "FAIL",
                f"Warm key '{name}' not found in keyring: {name}.info: key not found",
            )
        )
        return checks
    checks.append(_check("warm_key_in_keyring", "PASS", f"Warm key '{name}' found in keyring"))
    checks.append(
        _check("warm_key_address_match", "PASS", "Warm key address matches signer address")
    )
    return checks


def _grant_checks(chain: ChainSim, cold: str, warm: str) -> list[dict]:
    p = chain.participants.get(cold)
    now = chain.clock()
    details = {"cold_key_address": cold, "warm_key_address": warm}
    expiry = p.grants.get(warm) if p else None
    required = len(ML_OPS_PERMISSIONS)
    if expiry is None or expiry <= now:  # an expired authz grant is gone from the chain
        perms = _check(
            "permissions_granted",
            "FAIL",
            f"Missing {required} of {required} required permissions",
            {
                **details,
                "granted": 0,
                "missing": required,
                "missing_permissions": list(ML_OPS_PERMISSIONS),
            },
        )
    else:
        soon = expiry < now + WEEK_S
        perms = _check(
            "permissions_granted",
            "PASS",
            f"All {required} permissions granted, but {required} expiring soon"
            if soon
            else f"All {required} required permissions granted",
            {**details, "granted": required, "missing": 0}
            | ({"expiring_soon": list(ML_OPS_PERMISSIONS)} if soon else {}),
        )
    allowance = p.allowances.get(warm) if p else None
    if allowance is None:
        fee = _check(
            "feegrant_allowance",
            "FAIL",
            "No fee allowance from cold to warm key. Warm-key txs cannot pay fees from the "
            "cold account",
            details,
        )
    else:
        at = rfc3339(allowance)[:19] + "Z"
        fee_details = {
            **details,
            "allowance_type": "BasicAllowance",
            "spend_limit": "10000000000ngonka",
            "expiration": at,
        }
        if allowance <= now:
            fee = _check(
                "feegrant_allowance",
                "FAIL",
                f"Fee allowance from cold to warm key expired at {at}",
                fee_details,
            )
        elif allowance < now + WEEK_S:
            fee = _check(
                "feegrant_allowance",
                "PASS",
                f"Fee allowance present, expiring soon at {at}",
                fee_details,
            )
        else:
            fee = _check(
                "feegrant_allowance",
                "PASS",
                "Fee allowance from cold to warm key is configured",
                fee_details,
            )
    return [perms, fee]


def setup_report(node: SimNode) -> dict:
    """GET /admin/v1/setup/report as v0.2.14 writes it (setup_report.go): what the api
    container sees from its config.env, its keyring and the chain."""
    chain = node.chain
    assert chain is not None
    env = node.deploy_env()
    keyring = node.keyring()
    warm = keyring.get(env.get("KEY_NAME", ""))
    pubkey = env.get("ACCOUNT_PUBKEY", "")
    cold = account_address(pubkey) if pubkey else ""
    checks = _key_checks(node, env, warm)
    if pubkey and warm is not None:
        checks += _grant_checks(chain, cold, warm["address"])
    ours = chain.participants.get(cold)
    if ours is None:
        checks.append(
            _check("consensus_key_match", "UNAVAILABLE", f"Participant {cold} not found on chain")
        )
    elif ours.validator_key != chain.validator_key:
        checks.append(
            _check(
                "consensus_key_match",
                "FAIL",
                "Consensus key mismatch",
                {"consensus_pubkey": chain.validator_key, "registered_pubkey": ours.validator_key},
            )
        )
    else:
        checks.append(
            _check(
                "consensus_key_match",
                "PASS",
                "Consensus key matches participant registration",
                {"consensus_pubkey": chain.validator_key},
            )
        )
    epoch = chain.epoch()["latest_epoch"]["index"]
    if ours is not None and chain.in_epoch(ours):
        checks.append(
            _check(
                "active_in_epoch",
                "PASS",
                f"Participant is active in epoch {epoch}",
                {"epoch": epoch, "weight": ours.weight},
            )
        )
    else:
        checks.append(
            _check(
                "active_in_epoch",
                "FAIL",
                f"Participant is not active in epoch {epoch}",
                {"epoch": epoch},
            )
        )
    in_set = any(a == chain.validator_address for a, _, _ in chain.validators())
    checks.append(
        _check("validator_in_set", "PASS", "Validator is in the active set")
        if in_set
        else _check("validator_in_set", "FAIL", "Validator is not in the active set")
    )
    for nid, entry in sorted(node.admin_nodes.items()):
        ml = node.fleet.nodes.get(nid)
        healthy = ml is not None and ml.containers.running("mlnode-308")
        checks.append(
            _check(
                f"mlnode_{nid}",
                "PASS" if healthy else "FAIL",
                "MLNode is healthy" if healthy else "MLNode health check failed: unreachable",
                {"id": nid, "host": entry["host"], "models": list(entry["models"]), "gpus": []},
            )
        )
    height = chain.height()
    age = int(time.time() - chain.block_time_of(height))
    checks.append(
        _check(
            "block_sync",
            "PASS" if age < 60 else "FAIL",
            f"Chain is synced. Latest block: {height}, age: {age}s"
            if age < 60
            else f"Chain appears stalled. Latest block: {height}, age: {age}s (> 60s)",
            {
                "latest_height": height,
                "latest_block_time": rfc3339(chain.block_time_of(height)),
                "seconds_since_block": age,
            },
        )
    )
    counts = {
        k: sum(1 for c in checks if c["status"] == k) for k in ("PASS", "FAIL", "UNAVAILABLE")
    }
    issues = [c["id"] for c in checks if c["status"] == "FAIL"]
    now = time.time()
    return {
        "experimental": True,
        "generated_at": rfc3339(now),
        "cached_until": rfc3339(now + 10),
        "overall_status": "FAIL"
        if issues
        else ("UNAVAILABLE" if counts["UNAVAILABLE"] else "PASS"),
        "checks": checks,
        "summary": {
            "total_checks": len(checks),
            "passed_checks": counts["PASS"],
            "failed_checks": counts["FAIL"],
            "unavailable_checks": counts["UNAVAILABLE"],
            "issues": issues,
            "recommendations": [RECOMMENDATIONS[i] for i in issues if i in RECOMMENDATIONS],
        },
    }


# ---------------------------------------------------------------- ML node API


def mlnode_router(node: SimNode) -> Router:
    r = Router()

    def available() -> Response | None:
        if not node.containers.running("mlnode-308"):
            return text_response(
                "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "text/html"
            )
        return None

    def state(req: Request) -> Response:
        return available() or json_response({"state": node.ml_state})

    def health(req: Request) -> Response:
        down = available()
        if down:
            return down
        healthy = node.containers.healthy("mlnode-308") and not node.faults.get("inference_503")
        gpus = node.gpu_snapshot().visible
        body = {
            "status": "healthy" if healthy else "unhealthy",
            "service_state": node.ml_state,
            "gpu": {
                "available": bool(gpus),
                "count": len(gpus),
                "devices": [
                    {
                        "index": g.index,
                        "name": g.name,
                        "total_memory_mb": g.memory_total_mib,
                        "used_memory_mb": g.memory_used_mib,
                        "utilization_percent": g.utilization_gpu,
                        "temperature_c": g.temperature,
                    }
                    for g in gpus
                ],
            },
            "managers": {
                "inference": {"running": node.ml_state == "INFERENCE", "healthy": healthy},
                "train": {"running": False, "healthy": True},
            },
        }
        return json_response(body, 200 if healthy else 503)

    def inference_up(req: Request) -> Response:
        down = available()
        if down:
            return down
        body = req.json() or {}
        if not isinstance(body, dict) or "model" not in body:
            return json_response({"status": "ERROR", "message": "model is required"})
        node.ml_state = "INFERENCE"
        node.loaded_model = body["model"]
        return json_response({"status": "OK"})

    def stop(req: Request) -> Response:
        node.ml_state = "STOPPED"
        return available() or json_response({"status": "OK"})

    r.add("GET", "/api/v1/state", state)
    r.add("GET", "/health", health)
    r.add("GET", "/livez", health)
    r.add(
        "GET",
        "/readyz",
        lambda req: available() or json_response({"ready": node.containers.healthy("mlnode-308")}),
    )
    r.add("POST", "/api/v1/inference/up", inference_up)
    r.add("POST", "/api/v1/inference/down", stop)
    r.add("POST", "/api/v1/stop", stop)
    return r


# ---------------------------------------------------------------- inference: vLLM, Ollama


async def _latency(node: SimNode) -> None:
    """Typical latency, or p95 above 2 s while the slow-inference fault is set."""
    slow = node.faults.get("inference_slow")
    base = 2.6 if slow else 0.05
    await asyncio.sleep(base * random.uniform(0.9, 1.2))  # noqa: S311


def vllm_router(node: SimNode, container: str) -> Router:
    r = Router()

    def down() -> Response | None:
        if not node.containers.running(container):
            return text_response("", 502)
        if node.faults.get("inference_503"):
            return json_response({"error": "EngineDeadError"}, 503)
        return None

    def models(req: Request) -> Response:
        return down() or json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "created": int(node.started),
                        "owned_by": "vllm",
                        "root": m,
                        "parent": None,
                        "max_model_len": 240000,
                        "permission": [],
                    }
                    for m in node.models
                ],
            }
        )

    async def chat(req: Request) -> Response:
        fail = down()
        if fail:
            return fail
        await _latency(node)
        node.served += 1
        body = req.json() or {}
        return json_response(
            {
                "id": f"chatcmpl-{node.served}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", node.models[0]),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
            }
        )

    def metrics(req: Request) -> Response:
        fail = down()
        if fail:
            return fail
        lines = []
        for m in node.models:
            lab = f'engine="0",model_name="{m}"'
            lines += [
                f"vllm:num_requests_running{{{lab}}} 3.0",
                f"vllm:num_requests_waiting{{{lab}}} 0.0",
                f"vllm:kv_cache_usage_perc{{{lab}}} 0.42",
                f"vllm:prompt_tokens_total{{{lab}}} {12.0 * node.served}",
                f"vllm:generation_tokens_total{{{lab}}} {1.0 * node.served}",
                f'vllm:request_success_total{{{lab},finished_reason="stop"}} {float(node.served)}',
            ]
        head = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
        ]
        return text_response(
            "\n".join(head + lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    r.add("GET", "/health", lambda req: down() or Response(200, b"", "text/plain"))
    r.add("GET", "/v1/models", models)
    r.add("POST", "/v1/chat/completions", chat)
    r.add("GET", "/metrics", metrics)
    return r


def ollama_router(node: SimNode) -> Router:
    """Ollama's API as the server installed on the node's host answers it: its version,
    the models pulled, and generations scheduled as its settings say (console/sim/ollama.py)."""
    r = Router()
    host = node.ollama

    def env() -> dict[str, str]:
        unit = node.units.get("ollama")
        return OLLAMA_DEFAULTS | (unit.environment if unit else {})

    def down() -> Response | None:
        if not node.running("unit:ollama"):
            return text_response("", 502)
        if node.faults.get("inference_503"):
            return json_response({"error": "server busy"}, 503)
        return None

    def model_entry(name: str) -> dict:
        return {
            "name": name,
            "model": name,
            "modified_at": rfc3339(node.started),
            "size": model_size(name),
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": name.split(":")[-1].upper(),
                "quantization_level": "Q4_K_M",
            },
        }

    def tagged(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    def ps(req: Request) -> Response:
        fail = down()
        if fail:
            return fail
        loaded = []
        for m in host.in_memory():
            e = model_entry(m)
            # the CPU fallback: 62 % of the layers stay in system memory
            vram = int(e["size"] * 0.38) if node.faults.get("cpu_fallback") else e["size"]
            e.update(
                {
                    "expires_at": rfc3339(host.loaded[m]),
                    "size_vram": vram,
                    "context_length": 8192,
                }
            )
            loaded.append(e)
        return json_response({"models": loaded})

    async def pull(req: Request) -> Response:
        fail = down()
        if fail:
            return fail
        body = req.json() or {}
        name = tagged(str(body.get("model") or body.get("name") or ""))
        if not re.fullmatch(r"[\w.\-/]+:[\w.\-]+", name):
            return json_response({"error": f"invalid model name {name!r}"}, 400)
        total, digest = model_size(name), hashlib.sha256(name.encode()).hexdigest()
        await asyncio.sleep(0.05)  # a cached download: the sim's disk is fast
        host.pull(name)
        events = [{"status": "pulling manifest"}]
        events += [
            {
                "status": f"pulling {digest[:12]}",
                "digest": f"sha256:{digest}",
                "total": total,
                "completed": total * done // 4,
            }
            for done in range(1, 5)
        ]
        events += [{"status": s} for s in ("verifying sha256 digest", "writing manifest")]
        events.append({"status": "success"})
        if body.get("stream") is False:
            return json_response(events[-1])
        text = "\n".join(json.dumps(e) for e in events) + "\n"
        return Response(200, text.encode(), "application/x-ndjson")

    async def generate(req: Request) -> Response:
        fail = down()
        if fail:
            return fail
        body = req.json() or {}
        name = tagged(str(body.get("model") or ""))
        if name not in host.models:
            return json_response({"error": f'model "{name}" not found, try pulling it first'}, 404)
        settings = env()
        keep = keep_alive_seconds(body.get("keep_alive") or settings.get("OLLAMA_KEEP_ALIVE"))
        if not body.get("prompt"):  # an empty prompt loads the model, no more
            host.load(name, keep)
            return json_response(
                {
                    "model": name,
                    "created_at": rfc3339(time.time()),
                    "response": "",
                    "done": True,
                    "done_reason": "load",
                }
            )
        t0 = time.perf_counter()
        slow = 2.6 if node.faults.get("inference_slow") else GENERATION_S
        if node.faults.get("cpu_fallback"):
            slow *= 10  # most layers on the CPU
        admitted = await host.generate(settings, slow, req.gone)
        if admitted is None:  # nobody to answer
            return json_response({"error": "client gone"}, 499)
        if not admitted:
            return json_response({"error": OLLAMA_BUSY}, 503)
        host.load(name, keep)
        node.served += 1
        total = int((time.perf_counter() - t0) * 1e9)
        tokens = int((body.get("options") or {}).get("num_predict") or 8)
        return json_response(
            {
                "model": name,
                "created_at": rfc3339(time.time()),
                "response": "ok" + " ok" * (tokens - 1),
                "done": True,
                "done_reason": "stop",
                "total_duration": total,
                "load_duration": 1_000_000,
                "prompt_eval_count": 12,
                "prompt_eval_duration": 5_000_000,
                "eval_count": tokens,
                "eval_duration": max(total - 6_000_000, 1),
            }
        )

    r.add("GET", "/", lambda req: down() or text_response("Ollama is running"))
    r.add(
        "GET",
        "/api/version",
        lambda req: down() or json_response({"version": host.version or OLLAMA_LATEST}),
    )
    r.add(
        "GET",
        "/api/tags",
        lambda req: down() or json_response({"models": [model_entry(m) for m in host.models]}),
    )
    r.add("GET", "/api/ps", ps)
    r.add("POST", "/api/pull", pull)
    r.add("POST", "/api/generate", generate)
    return r
