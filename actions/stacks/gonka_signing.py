"""The signing kit: for a cold key kept on another machine, the exact commands to run there,
per cluster, for what the chain still lacks now (the ML-ops grant, the participant when its
funded account cannot register through the seed, a vote on an open proposal, an unjail).
`fleetdeck doctor` then verifies that they took effect. The commands carry public values
only; the other machine's CLI asks for its keyring password itself.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from actions.engine import NodeContext, StepFailed
from actions.stacks.gonka import chain_rpc_url, participant_url
from actions.stacks.gonka_gov import ballots, vote_command
from actions.stacks.gonka_register import account, funded_unsigned, grant_state, on_chain
from actions.stacks.node_http import node_json


@dataclass(frozen=True)
class Signing:
    why: str
    command: str


def kit(ctx: NodeContext, node_url: str) -> list[Signing]:
    """What the cold key of ctx's cluster must sign now, as commands for `node_url`."""
    address, _ = account(ctx)
    s = ctx.settings
    code, status = node_json(ctx, chain_rpc_url(ctx, "/status"))
    if code != 200:
        raise StepFailed(f"the chain's RPC does not answer ({code or status})")
    result = status["result"]
    chain_id = result["node_info"]["network"]
    key = shlex.quote(s.account_key_name)
    common = f"--from {key} --keyring-backend file --node {shlex.quote(node_url)}"
    out: list[Signing] = []
    if on_chain(ctx, address) is None and funded_unsigned(ctx, address):
        out.append(
            Signing(
                f"register {address}: its account is funded and never signed, so the seed's "
                "registration would panic",
                f"inferenced tx inference submit-new-participant "
                f"{shlex.quote(participant_url(ctx))} --validator-key "
                f"{shlex.quote(result['validator_info']['pub_key']['value'])} {common} "
                f"--timeout-duration 1m --unordered --chain-id {shlex.quote(chain_id)}",
            )
        )
    if s.ml_ops_address and grant_state(ctx).get("permissions_granted") != "PASS":
        out.append(
            Signing(
                f"grant ML-ops permissions and a fee allowance to the warm key {s.ml_ops_address}",
                f"inferenced tx inference grant-ml-ops-permissions {key} "
                f"{shlex.quote(s.ml_ops_address)} {common} --gas 2000000",
            )
        )
    try:
        open_ballots = ballots(ctx)
    except StepFailed:  # an API that lists no proposals leaves nothing to vote on here
        open_ballots = []
    for ballot in open_ballots:
        if ballot.vote is None:
            ends = ballot.proposal.voting_end
            when = (
                time.strftime(" (voting ends %Y-%m-%d %H:%M UTC)", time.gmtime(ends))
                if ends
                else ""
            )
            out.append(
                Signing(
                    f"vote on proposal {ballot.proposal.id}, {ballot.proposal.title!r}{when}: "
                    "set VOTE to yes, no, abstain or no_with_veto first",
                    vote_command(ctx, ballot.proposal.id, node_url, chain_id),
                )
            )
    if int(result["validator_info"].get("voting_power") or 0) == 0 and on_chain(ctx, address):
        out.append(
            Signing(
                "the validator is out of the set (jailed): unjail it",
                f"inferenced tx slashing unjail {common} --chain-id {shlex.quote(chain_id)}",
            )
        )
    return out
