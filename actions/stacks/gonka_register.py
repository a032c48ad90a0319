"""Registering each Gonka cluster as a participant (reference/operations.md §2), on its
network node: the chain container first (a crash loop is named, not met as a DNS error),
the warm key, register-new-participant inside `api` judged by the chain's
`/v2/participants/<addr>` (either shape), the cold key's grant of ML-ops permissions
signed on this machine, and the cluster's ML nodes in the admin API. Idempotent: a
registered cluster plans nothing.
"""

from __future__ import annotations

import json
import shlex
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

from actions.engine import Action, Change, NodeContext, Step, StepFailed, StepSkipped
from actions.stacks.gonka import chain_rpc_url, node_config, participant_url
from actions.stacks.gonka_keys import (
    COLD_SECRET,
    WARM_STEP,
    cli,
    cold_args,
    cold_key,
    warm_check,
)
from actions.stacks.node_http import node_json, note
from console.core.stacks.gonka import CHAIN_CONTAINER
from console.core.stacks.gonka_chain import parse_participant, setup_checks

ADMIN = "http://127.0.0.1:9200"
REGISTERED_WAIT_S = 60  # the chain lists a new participant within a few blocks
REPORT_WAIT_S = 90  # the setup report is cached for a while on the node


def api_url(ctx: NodeContext, path: str) -> str:
    return f"http://127.0.0.1:{ctx.settings.api_port}{path}"


@contextmanager
def on_the_node(ctx: NodeContext):
    """A local step's commands that must read the node (its admin API)."""
    was, ctx.local = ctx.local, False
    try:
        yield
    finally:
        ctx.local = was


def account(ctx: NodeContext) -> tuple[str, str]:
    """(address, public key) of the cluster's cold key: the profile's; for a key kept on
    another machine whose address the profile lacks, the address the network node derives
    from the same public key (its setup report)."""
    s = ctx.settings
    if s.account_address and s.account_pubkey:
        return s.account_address, s.account_pubkey
    if s.account_pubkey:
        with on_the_node(ctx):
            code, report = node_json(ctx, f"{ADMIN}/admin/v1/setup/report")
        for c in setup_checks(report) if code == 200 else []:
            if c.id == "cold_key_configured" and c.details.get("pubkey") == s.account_pubkey:
                return str(c.details["address"]), s.account_pubkey
    raise StepFailed(
        f"cluster {ctx.cluster.name} has no account key in the profile (account_address, "
        "account_pubkey): run `fleetdeck run PROFILE keys` first (or, for a key kept on "
        "another machine, set both)"
    )


# ---------------------------------------------------------------- the chain container


def chain_check(ctx: NodeContext) -> Change | None:
    out = ctx.run(f"docker inspect {CHAIN_CONTAINER}", quiet=True, check=False)
    try:
        state = json.loads(out.stdout)[0]["State"] if out.exit == 0 else None
    except (ValueError, IndexError, KeyError, TypeError):
        state = None
    if state is None:
        raise StepFailed(f"no {CHAIN_CONTAINER} container: run `fleetdeck run PROFILE deploy`")
    restarts = json.loads(out.stdout)[0].get("RestartCount", 0)
    if state.get("Restarting") or state.get("Status") != "running":
        raise StepFailed(
            f"the chain container `{CHAIN_CONTAINER}` is {state.get('Status')} (restarted "
            f"{restarts} times, exit code {state.get('ExitCode')}): registering now would fail "
            f"with a DNS error from inside `api`; see `docker logs {CHAIN_CONTAINER}`"
        )
    code, status = node_json(ctx, chain_rpc_url(ctx, "/status"))
    if code != 200:
        raise StepFailed(f"the chain's RPC does not answer ({code or status})")
    note(ctx, f"chain at height {status['result']['sync_info']['latest_block_height']}")
    return None


# ---------------------------------------------------------------- the participant


def consensus_key(ctx: NodeContext) -> str:
    code, status = node_json(ctx, chain_rpc_url(ctx, "/status"))
    if code != 200:
        raise StepFailed(f"the chain's RPC does not answer ({code or status})")
    return status["result"]["validator_info"]["pub_key"]["value"]


def on_chain(ctx: NodeContext, address: str):
    code, doc = node_json(ctx, api_url(ctx, f"/v2/participants/{address}"))
    if code == 404:
        return None
    if code != 200:
        raise StepFailed(f"the API does not answer /v2/participants ({code or doc})")
    return parse_participant(doc)


def funded_unsigned(ctx: NodeContext, address: str) -> bool:
    """Whether the account exists on the chain and has never signed (sequence 0): the
    seed's unfunded registration panics on it (a known Gonka bug, operations.md §2)."""
    out = ctx.run(
        f"docker exec api inferenced query auth account {shlex.quote(address)} --output json "
        "--node http://node:26657",
        quiet=True,
        check=False,
    )
    said = (out.stdout + out.stderr).strip()
    if out.exit != 0:
        if "not found" in said:
            return False
        raise StepFailed(f"cannot read the account {address}: {said[-300:]}")

    def sequence(value) -> str | None:
        if isinstance(value, dict):
            if "sequence" in value:
                return str(value["sequence"])
            return next((s for v in value.values() if (s := sequence(v)) is not None), None)
        return None

    return sequence(json.loads(said.splitlines()[-1])) in ("0", None)


FUNDED = (
    "the account {address} is funded and has never signed (sequence 0): registering it "
    "through the seed would panic"
)


def participant_check(ctx: NodeContext) -> Change | None:
    address, pubkey = account(ctx)
    seed = ctx.settings.seed_api_url
    if not seed:
        raise StepFailed(f"no seed_api_url for cluster {ctx.cluster.name}")
    found = on_chain(ctx, address)
    ours = consensus_key(ctx)
    if found is not None and found.validator_key == ours:
        return None
    if found is None and funded_unsigned(ctx, address):
        raise StepSkipped(FUNDED.format(address=address) + "; the next step signs it here")
    why = (
        f"re-register participant {address}: the chain has consensus key {found.validator_key}"
        if found
        else f"register participant {address} at {participant_url(ctx)}"
    )
    args = " ".join(
        shlex.quote(a)
        for a in ("register-new-participant", participant_url(ctx), pubkey, "--node-address")
    )
    return Change(why, (f"docker exec api inferenced {args} {shlex.quote(seed)}",))


def participant_apply(ctx: NodeContext, change: Change) -> None:
    address, _ = account(ctx)
    out = ctx.run(change.commands[0], check=False)
    said = (out.stdout + out.stderr).strip()
    if "Response status code: 200" not in said:
        raise StepFailed(f"registration refused: {said[-400:]}")
    # the CLI's own wait misreads v0.2.12+'s answer: the chain decides
    deadline = time.monotonic() + REGISTERED_WAIT_S
    while time.monotonic() < deadline:
        found = on_chain(ctx, address)
        if found is not None:
            note(ctx, f"the chain lists participant {address} ({found.status}, {found.url})")
            return
        time.sleep(2)
    raise StepFailed(f"the chain does not list {address} {REGISTERED_WAIT_S} s after registering")


def signed_check(ctx: NodeContext) -> Change | None:
    """submit-new-participant signed by the cold key here: the way around the panic."""
    address, _ = account(ctx)
    with on_the_node(ctx):
        if on_chain(ctx, address) is not None:
            return None
        if not funded_unsigned(ctx, address):
            raise StepSkipped("not needed: the seed registers this account (the step above)")
        code, status = node_json(ctx, chain_rpc_url(ctx, "/status"))
        if code != 200:
            raise StepFailed(f"the chain's RPC does not answer ({code or status})")
    result = status["result"]
    if cold_key(ctx) is None:
        raise StepFailed(
            FUNDED.format(address=address) + ", and the cold key that must sign instead is "
            f"not on this machine ({cold_args(ctx)}): see `fleetdeck signing-kit PROFILE`"
        )
    name = shlex.quote(ctx.settings.account_key_name)
    return Change(
        f"submit participant {address}, signed here by the cold key (a funded account "
        "that never signed: the seed's registration would panic)",
        (
            f"{cli(ctx)} tx inference submit-new-participant "
            f"{shlex.quote(participant_url(ctx))} --validator-key "
            f"{shlex.quote(result['validator_info']['pub_key']['value'])} --from {name} "
            f"{cold_args(ctx)} --timeout-duration 1m --unordered --node {tx_node_mark(ctx)} "
            f"--chain-id {shlex.quote(result['node_info']['network'])}",
        ),
    )


def signed_apply(ctx: NodeContext, change: Change) -> None:
    address, _ = account(ctx)
    command = change.commands[0].replace(tx_node_mark(ctx), tx_node(ctx))
    out = ctx.run(command, stdin=ctx.secret(COLD_SECRET) + "\n", check=False)
    said = (out.stdout + out.stderr).strip()
    if "Transaction confirmed successfully!" not in said:
        raise StepFailed(f"submit-new-participant was not confirmed: {said[-400:]}")
    with on_the_node(ctx):
        deadline = time.monotonic() + REGISTERED_WAIT_S
        while on_chain(ctx, address) is None:
            if time.monotonic() > deadline:
                raise StepFailed(f"the chain does not list {address} after submitting it")
            time.sleep(2)
    note(ctx, f"the chain lists participant {address}")


# ---------------------------------------------------------------- the grant (cold key)


def grant_state(ctx: NodeContext) -> dict[str, str]:
    """The setup report's permissions_granted and feegrant_allowance statuses."""
    with on_the_node(ctx):
        code, report = node_json(ctx, f"{ADMIN}/admin/v1/setup/report")
    if code != 200:
        raise StepFailed(f"the admin API does not answer /admin/v1/setup/report ({code})")
    return {
        c.id: c.status
        for c in setup_checks(report)
        if c.id in ("permissions_granted", "feegrant_allowance", "warm_key_in_keyring")
    }


def grant_check(ctx: NodeContext) -> Change | None:
    account(ctx)
    warm = ctx.settings.ml_ops_address
    if not warm:
        raise StepFailed("the warm key's address is not known yet (the warm-key step)")
    state = grant_state(ctx)
    if state.get("permissions_granted") == "PASS" and state.get("feegrant_allowance") != "FAIL":
        return None
    name = shlex.quote(ctx.settings.account_key_name)
    key = cold_key(ctx)
    if key is None:
        raise StepFailed(
            f"the cold key is not on this machine ({cold_args(ctx)}): `fleetdeck signing-kit "
            "PROFILE` prints the commands to run where it is kept"
        )
    return Change(
        f"grant ML-ops permissions and a fee allowance to the warm key {warm} (signed here "
        "by the cold key)",
        (
            f"{cli(ctx)} tx inference grant-ml-ops-permissions {name} {shlex.quote(warm)} "
            f"--from {name} {cold_args(ctx)} --gas 2000000 --node {tx_node_mark(ctx)}",
        ),
    )


def tx_node_mark(ctx: NodeContext) -> str:
    """How a plan names the chain RPC the cold key's transactions go to: the cluster's own
    chain node, through an SSH forward from this machine (a proxy's /chain-rpc/ may be
    disabled, DISABLE_CHAIN_RPC; the RPC itself is never public)."""
    return f"<forward to {ctx.name}'s chain RPC>"


def tx_node(ctx: NodeContext) -> str:
    """The chain RPC URL on this machine that the mark stands for."""
    with on_the_node(ctx):
        where = urlsplit(chain_rpc_url(ctx, ""))
    local = ctx.engine.pool.forward(ctx.name, where.port or 26657, where.hostname or "127.0.0.1")
    return f"http://127.0.0.1:{local}"


def grant_apply(ctx: NodeContext, change: Change) -> None:
    command = change.commands[0].replace(tx_node_mark(ctx), tx_node(ctx))
    out = ctx.run(command, stdin=ctx.secret(COLD_SECRET) + "\n", check=False)
    said = (out.stdout + out.stderr).strip()
    if "Transaction confirmed successfully!" not in said:
        raise StepFailed(f"the grant was not confirmed: {said[-400:]}")


def grant_verify(ctx: NodeContext) -> None:
    deadline = time.monotonic() + REPORT_WAIT_S
    while True:
        state = grant_state(ctx)
        if state.get("permissions_granted") == "PASS":
            return
        if time.monotonic() > deadline:
            raise StepFailed(f"the setup report still says {state} after the grant")
        time.sleep(3)


# ---------------------------------------------------------------- ML nodes, admin API


def ml_entries(ctx: NodeContext) -> list[dict]:
    """The cluster's ML nodes as node-config.json lists them (the deploy's own entries)."""
    return json.loads(node_config(ctx))


def approved_models(ctx: NodeContext) -> list[str]:
    code, doc = node_json(ctx, api_url(ctx, "/v1/governance/models"))
    if code != 200 or not isinstance(doc, dict):
        return []
    return [m.get("id", "") for m in doc.get("models", [])]


def governance_check(ctx: NodeContext, wanted: list[dict]) -> None:
    """Every model the profile gives an ML node is one the chain approved."""
    approved = approved_models(ctx)
    if approved:
        for entry in wanted:
            for model in entry["models"]:
                if model not in approved:
                    raise StepFailed(
                        f"{entry['id']} serves {model}, not a governance model; approved: "
                        + ", ".join(approved)
                    )


def ml_nodes_check(ctx: NodeContext) -> Change | None:
    wanted = ml_entries(ctx)
    governance_check(ctx, wanted)
    missing, moved = ml_nodes_diff(ctx, wanted)
    if not (missing or moved):
        return None
    ids = ", ".join(e["id"] for e in missing + moved)
    what = []
    if missing:
        what.append(f"add {len(missing)} ML node(s) to the admin API")
    if moved:
        what.append(f"update the address of {len(moved)}")
    return Change(
        f"{' and '.join(what)}: {ids}",
        (f"POST {ADMIN}/admin/v1/nodes/batch ({ids})",),
        payload=tuple(missing + moved),
    )


def ml_nodes_diff(ctx: NodeContext, wanted: list[dict]) -> tuple[list[dict], list[dict]]:
    """(entries the admin API lacks or serves other models for, entries it reaches at
    another host than the profile says)."""
    code, listing = node_json(ctx, f"{ADMIN}/admin/v1/nodes")
    if code != 200 or not isinstance(listing, list):
        raise StepFailed(f"the admin API does not answer /admin/v1/nodes ({code})")
    have = {n["node"]["id"]: n["node"] for n in listing if "node" in n}
    missing = [
        e
        for e in wanted
        if e["id"] not in have or set(have[e["id"]].get("models", {})) != set(e["models"])
    ]
    moved = [e for e in wanted if e not in missing and have[e["id"]].get("host") != e["host"]]
    return missing, moved


def ml_nodes_apply(ctx: NodeContext, change: Change) -> None:
    code, doc = node_json(ctx, f"{ADMIN}/admin/v1/nodes/batch", list(change.payload))
    if code not in (200, 201):
        raise StepFailed(f"the admin API refused the ML nodes: HTTP {code}: {doc}")
    note(ctx, f"the admin API took {', '.join(e['id'] for e in change.payload)}")


def register_action() -> Action:
    return Action(
        name="register",
        stacks=("gonka",),
        destructive=True,  # transactions on the chain: the fleet's name is typed
        description="register each cluster as a participant: chain ready, warm key, "
        "register-new-participant, ML-ops grant (cold key, here), ML nodes in the admin API",
        steps=(
            Step(
                "chain",
                "chain container and RPC",
                chain_check,
                roles=("network",),
                retries=5,
                backoff=3.0,
            ),
            Step(
                "warm-key",
                WARM_STEP.title,
                lambda ctx: warm_check(ctx, needed=True),
                WARM_STEP.apply,
                roles=("network",),
            ),
            Step(
                "participant",
                "participant on the chain",
                participant_check,
                participant_apply,
                roles=("network",),
            ),
            Step(
                "participant-signed",
                "participant, signed here (a funded account)",
                signed_check,
                signed_apply,
                roles=("network",),
                local=True,
            ),
            Step(
                "grant",
                "ML-ops permissions (cold key, on this machine)",
                grant_check,
                grant_apply,
                verify=grant_verify,
                roles=("network",),
                local=True,
            ),
            Step(
                "ml-nodes",
                "ML nodes in the admin API",
                ml_nodes_check,
                ml_nodes_apply,
                roles=("network",),
            ),
        ),
    )
