"""Gonka's own alert rules: its chain node (RPC, sync, stalls, peers, the validator set,
the epoch) and its ML nodes as the network node's admin API lists them. The generic rules
(console/core/monitor/alerts.py) ask the stack for these (Stack.rules)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from console.core.monitor.findings import Finding

if TYPE_CHECKING:
    from console.core.profile.schema import AlertsSection
    from console.core.state import NodeStatus


def chain_findings(node: NodeStatus, limits: AlertsSection, now: float) -> Iterator[Finding]:
    chain = node.chain
    if node.chain_error and chain is None and node.role == "network":
        yield Finding(
            "chain_unreadable",
            "critical",
            "chain RPC does not answer",
            node.chain_error,
            "check the node container (docker logs node)",
        )
        return
    if chain is None:
        return
    if chain.catching_up:
        yield Finding(
            "chain_catching_up",
            "warning",
            "chain node is catching up",
            f"height {chain.height}",
            "wait; if it does not converge, check peers and consider state sync",
        )
    elif chain.block_time is not None and now - chain.block_time > limits.chain_stall_s:
        yield Finding(
            "chain_stalled",
            "critical",
            "chain stalled",
            f"no block for {now - chain.block_time:.0f} s at height {chain.height}",
            "check the node and tmkms containers' logs, disk space and peers",
        )
    if chain.peers == 0:
        yield Finding(
            "chain_no_peers",
            "critical",
            "chain node has no peers",
            "n_peers 0",
            "check the P2P port 5000 is open and the seed node settings",
        )
    if chain.validator_in_set is False:
        yield Finding(
            "validator_not_in_set",
            "critical",
            "validator not in the active set",
            "our consensus key is not in /validators",
            "if jailed, unjail it with the cold key: the runbook card (enter) has the exact "
            "command for this cluster",
        )
    if chain.in_epoch is False:
        yield Finding(
            "participant_not_in_epoch",
            "warning",
            "participant missing from the current epoch",
            f"epoch {chain.epoch}",
            "check the setup report and PoC results; the "
            "node joins at the next PoC if it is healthy",
        )
    for ml_id, status, enabled in chain.ml_nodes:
        if status == "FAILED" and enabled:
            yield Finding(
                f"ml_node_failed:{ml_id}",
                "critical",
                f"ML node {ml_id} FAILED",
                "admin API current_status FAILED",
                "check that ML node's containers and inference health; disable it "
                "before the next PoC if it cannot recover",
            )
