"""Governance as a host sees it: the proposals in their voting period and each cluster's
vote (its cold key's), read from the network node's public API; the vote itself is signed
where the cold key lives (the signing kit prints the command, reference/gonka-0.2.15.md
§3.3), never here."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from actions.engine import NodeContext, StepFailed
from actions.stacks.gonka_register import account, api_url
from actions.stacks.node_http import node_json
from console.core.stacks.gonka_api import Proposal, read_proposals, read_vote

GOV = "/chain-api/cosmos/gov/v1/proposals"
VOTING = f"{GOV}?proposal_status=PROPOSAL_STATUS_VOTING_PERIOD"


@dataclass(frozen=True)
class Ballot:
    proposal: Proposal
    voter: str  # the cluster's cold key's address
    vote: str | None  # None: not voted


def ballots(ctx: NodeContext, voter: str | None = None) -> list[Ballot]:
    """The proposals now in their voting period, with the vote on each of `voter` (by
    default ctx's cluster's cold key)."""
    code, doc = node_json(ctx, api_url(ctx, VOTING))
    if code != 200:
        raise StepFailed(f"the API does not list proposals ({code or doc})")
    try:
        proposals = read_proposals(doc)
    except ValueError as exc:
        raise StepFailed(f"the API's proposals: {exc}") from None
    voter = voter or account(ctx)[0]
    out = []
    for p in proposals:
        code, doc = node_json(ctx, api_url(ctx, f"{GOV}/{p.id}/votes/{voter}"))
        try:
            out.append(Ballot(p, voter, read_vote(code, doc)))
        except ValueError as exc:
            raise StepFailed(f"the vote on proposal {p.id}: {exc}") from None
    return out


def vote_command(ctx: NodeContext, proposal: int, node_url: str, chain_id: str) -> str:
    """The official vote command (network updates, Aug 20), for the cold key's machine;
    the choice stays the operator's: $VOTE is yes, no, abstain or no_with_veto."""
    key = shlex.quote(ctx.settings.account_key_name)
    return (
        f'inferenced tx gov vote {proposal} "$VOTE" --from {key} --keyring-backend file '
        f"--unordered --timeout-duration=60s --gas=2000000 --gas-adjustment=5.0 "
        f"--node {shlex.quote(node_url)} --chain-id {shlex.quote(chain_id)} --yes"
    )
