"""Gonka's own alert rules: its chain node (RPC, sync, stalls, peers, the validator set,
the epoch) and its ML nodes as the network node's admin API lists them. The generic rules
(console/core/monitor/alerts.py) ask the stack for these (Stack.rules)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from console.core.monitor.findings import Finding
from console.core.stacks.gonka_cosmovisor import upgrade_findings

if TYPE_CHECKING:
    from console.core.profile.schema import AlertsSection
    from console.core.state import NodeStatus


def chain_findings(node: NodeStatus, limits: AlertsSection, now: float) -> Iterator[Finding]:
    yield from upgrade_findings(node)  # first: the RPC is gone when it halts
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
    yield from _misses(chain)
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


# the share of requests a host missed: gonka-tracker flags above 10 %; the network's
# circuit breaker excludes executors above 25 % (gonka-ai/gonka#942, #975)
MISS_WARNING, MISS_CRITICAL = 0.10, 0.25
MISS_MIN_REQUESTS = 20  # fewer say little: a rate needs samples (#942 waits for 4)


def _misses(chain) -> Iterator[Finding]:
    epochs = [
        ("this epoch", chain.inferences, chain.missed),
        ("last epoch", chain.last_epoch_inferences, chain.last_epoch_missed),
    ]
    rates = [
        (missed / (served + missed), label, served, missed)
        for label, served, missed in epochs
        if served is not None and missed is not None and served + missed >= MISS_MIN_REQUESTS
    ]
    if not rates:
        return
    rate, label, served, missed = max(rates)
    if rate <= MISS_WARNING:
        return
    evidence = "; ".join(
        f"{lb}: missed {m} of {s + m} ({m / (s + m):.0%})" for _, lb, s, m in rates
    )
    yield Finding(
        "inference_misses",
        "critical" if rate > MISS_CRITICAL else "warning",
        f"missed {rate:.0%} of inference requests {label}",
        evidence,
        "check the ML nodes' inference health and latency (the node's Chain tab, "
        "docker logs of the ML nodes); above 25 % the network stops routing to the host, "
        "and an error answered as a 200 counts as a miss too",
    )
