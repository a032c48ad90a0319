"""The registration doctor: per Gonka cluster, everything that must hold for it to earn,
read from its network node and the chain, each failing check naming the action that fixes
it (`fleetdeck doctor PROFILE`, and the console's registration panel).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime

from actions.engine import NodeContext, StepFailed
from actions.stacks.gonka_gov import ballots
from actions.stacks.gonka_register import (
    ADMIN,
    api_url,
    governance_check,
    ml_entries,
    ml_nodes_diff,
    on_chain,
)
from actions.stacks.node_http import node_json
from console.core.stacks.gonka_api import read_epoch, read_epoch_participants
from console.core.stacks.gonka_chain import Check, setup_checks

OK, WARN, FAIL, UNKNOWN = "ok", "warn", "fail", "unknown"
EXPIRY_WARNING_DAYS = 30

FIXES = {
    "participant": "fleetdeck run PROFILE register",
    "cold_key_configured": "fleetdeck run PROFILE keys, then deploy (config.env's ACCOUNT_PUBKEY)",
    "cold_key_not_in_keyring": "move the cold key off the node: it belongs on this machine",
    "warm_key_in_keyring": "fleetdeck run PROFILE register (its warm-key step)",
    "warm_key_address_match": "key_name must name the key in the api container's keyring",
    "permissions_granted": "fleetdeck run PROFILE register (its grant step)",
    "feegrant_allowance": "inferenced tx feegrant revoke <warm-address> (cold key), then "
    "fleetdeck run PROFILE register",
    "consensus_key_match": "fleetdeck run PROFILE register (re-registers the node's key)",
    "active_in_epoch": "after the next PoC it joins; if not: the node's chain alerts and runbooks",
    "validator_in_set": "a jailed validator: the unjail runbook in the console (cold key)",
    "block_sync": "the chain node is stalled: docker logs node on the network node",
    "ml_nodes": "fleetdeck run PROFILE register (its ml-nodes step)",
    "mlnode": "the ML node's screen in the console: containers, GPUs, logs",
    "epoch": "wait for the next PoC; then check the ML nodes' PoC state",
}


@dataclass(frozen=True)
class Finding:
    id: str
    status: str  # ok | warn | fail | unknown
    message: str
    fix: str | None = None

    def as_json(self) -> dict:
        return asdict(self)


def finding(id: str, status: str, message: str) -> Finding:
    key = "mlnode" if id.startswith("mlnode_") else id
    return Finding(id, status, message, FIXES.get(key) if status in (FAIL, WARN) else None)


def from_report(check: Check, now: float) -> Finding:
    status = {"PASS": OK, "FAIL": FAIL}.get(check.status, UNKNOWN)
    message = check.message
    if check.id == "permissions_granted" and check.details.get("expiring_soon"):
        status = WARN
    if check.id == "feegrant_allowance" and status == OK and check.details.get("expiration"):
        at = datetime.fromisoformat(str(check.details["expiration"]).replace("Z", "+00:00"))
        days = (at.timestamp() - now) / 86400
        if days < EXPIRY_WARNING_DAYS:
            status = WARN
            message = (
                f"the fee allowance (granted with the ML-ops permissions, in one tx) expires "
                f"in {days:.0f} days, at {check.details['expiration']}"
            )
    return finding(check.id, status, message)


def diagnose(ctx: NodeContext) -> list[Finding]:
    """Every check of one cluster, read through its network node."""
    code, report = node_json(ctx, f"{ADMIN}/admin/v1/setup/report")
    checks = setup_checks(report) if code == 200 else []
    # the account: the profile's, else the one the node's config.env names
    configured = next((c for c in checks if c.id == "cold_key_configured"), None)
    address = ctx.settings.account_address or (
        str(configured.details.get("address") or "") if configured else ""
    )
    p = None
    out: list[Finding] = []
    if not address:
        out.append(
            Finding(
                "participant",
                FAIL,
                "no account key: neither the profile nor the node's config.env names one",
                "fleetdeck run PROFILE keys, then deploy",
            )
        )
    else:
        try:
            p = on_chain(ctx, address)
        except StepFailed as exc:
            out.append(finding("participant", UNKNOWN, str(exc)))
        else:
            out.append(
                finding("participant", OK, f"{address} is a participant ({p.status}, {p.url})")
                if p
                else finding("participant", FAIL, f"{address} is not a participant")
            )
    if code == 200:
        now = time.time()
        out += [from_report(c, now) for c in checks]
        if p is not None:
            out = [waiting_for_poc(ctx, f, p.join_height) for f in out]
    else:
        out.append(finding("setup_report", UNKNOWN, f"the admin API did not answer ({code})"))
    out.append(ml_nodes_finding(ctx))
    if address:
        epoch = epoch_finding(ctx, address)
        if epoch.status == OK:  # the report is cached: it may not have seen this epoch yet
            out = [
                finding(f.id, WARN, f"{f.message} (the setup report is cached; {epoch.message})")
                if f.id == "active_in_epoch" and f.status == FAIL
                else f
                for f in out
            ]
        out.append(epoch)
        out.append(governance_finding(ctx, address))
    return out


VOTE_WARNING_S = 86400  # an unvoted proposal ending within a day is said


def governance_finding(ctx: NodeContext, address: str) -> Finding:
    try:
        open_ballots = ballots(ctx, address)
    except StepFailed as exc:
        return finding("proposals", UNKNOWN, str(exc))
    now = time.time()
    soon = [
        b.proposal
        for b in open_ballots
        if b.vote is None and b.proposal.voting_end and b.proposal.voting_end - now < VOTE_WARNING_S
    ]
    if soon:
        p = soon[0]
        hours = max(0.0, (p.voting_end or now) - now) / 3600
        more = f" (and {len(soon) - 1} more)" if len(soon) > 1 else ""
        return Finding(
            "proposals",
            WARN,
            f"proposal {p.id} {p.title!r} ends in {hours:.0f} h and this cluster has not "
            f"voted{more}",
            "fleetdeck signing-kit PROFILE prints the vote command for the cold key's machine",
        )
    if not open_ballots:
        return finding("proposals", OK, "no proposal is in its voting period")
    voted = sum(b.vote is not None for b in open_ballots)
    return finding("proposals", OK, f"voted on {voted} of {len(open_ballots)} open proposals")


def ml_nodes_finding(ctx: NodeContext) -> Finding:
    try:
        wanted = ml_entries(ctx)
        governance_check(ctx, wanted)
        missing, moved = ml_nodes_diff(ctx, wanted)
    except StepFailed as exc:
        return finding("ml_nodes", FAIL, str(exc))
    if missing:
        ids = ", ".join(e["id"] for e in missing)
        return finding("ml_nodes", FAIL, f"the admin API lacks or serves other models on: {ids}")
    if moved:
        where = ", ".join(f"{e['id']} (the profile says {e['host']})" for e in moved)
        return finding("ml_nodes", WARN, f"the admin API reaches another host for: {where}")
    return finding("ml_nodes", OK, "every ML node of the profile is in the admin API")


def waiting_for_poc(ctx: NodeContext, f: Finding, joined: int) -> Finding:
    """A participant registered after this epoch's PoC is not in it yet: that is a wait,
    not a failure."""
    if f.id != "active_in_epoch" or f.status != FAIL:
        return f
    code, latest = node_json(ctx, api_url(ctx, "/v1/epochs/latest"))
    try:
        epoch = read_epoch(latest)
    except ValueError:
        return f
    poc, nxt = epoch.poc_start, epoch.next_poc_start
    if nxt is None:
        return f
    if joined < poc:
        return f
    return finding(
        f.id,
        WARN,
        f"registered at block {joined}, after this epoch's PoC began ({poc}): it joins at "
        f"the next PoC, block {nxt}",
    )


def epoch_finding(ctx: NodeContext, address: str) -> Finding:
    code, doc = node_json(ctx, api_url(ctx, "/v1/epochs/current/participants"))
    if code != 200 or not isinstance(doc, dict):
        return finding("epoch", UNKNOWN, f"the API did not answer the epoch ({code})")
    try:
        active = read_epoch_participants(doc)
    except ValueError as exc:
        return finding("epoch", UNKNOWN, f"the API's epoch participants: {exc}")
    ours = active.by_address(address)
    epoch = "?" if active.epoch_id is None else active.epoch_id
    if ours is not None and ours.weight > 0:
        return finding("epoch", OK, f"in epoch {epoch} with weight {ours.weight}")
    return finding("epoch", WARN, f"not in epoch {epoch} yet: it joins after the next PoC")
