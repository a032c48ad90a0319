"""Gonka's admin API (9200, private): ML nodes added, updated, enabled and disabled, and
the network node's setup report with its checks (keys, grants, allowance)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from console.sim.chain import ChainSim, account_address, rfc3339
from console.sim.http import Request, Response, Router, json_response

if TYPE_CHECKING:
    from console.sim.node import SimNode


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
