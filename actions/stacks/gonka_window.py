"""Changes that wait for the window: the official notices ask hosts to restart or patch
nothing while PoC or a confirmation PoC runs, and to use the 500 blocks before each PoC
(reference/gonka-0.2.15.md §3.3). A step that recreates or restarts the chain's, the API's
or an ML node's containers asks the cluster's network node for the epoch first; during
PoC it stops, saying when the window opens, unless the run was given `--force REASON`,
which its journal then keeps with who forced it."""

from __future__ import annotations

import getpass

from actions.engine import NodeContext, StepFailed
from actions.stacks.node_http import node_json, note
from console.core.stacks.gonka_api import Epoch, poc_hold, read_epoch
from console.core.transport.ssh import ConnectionLost


def epoch_now(ctx: NodeContext) -> Epoch | None:
    """The epoch as the cluster's network node's API says it; None where it cannot say
    (not deployed yet, the API down): nothing then holds the change back."""
    network = next((n for n in ctx.cluster.nodes if n.role == "network"), None)
    if network is None:
        return None
    there = ctx if network is ctx.node else NodeContext(ctx.engine, ctx.cluster, network)
    # the public API on the network node's loopback (gonka_register.api_url's, which this
    # module cannot import: gonka_register builds on the deploy that uses this)
    url = f"http://127.0.0.1:{there.settings.api_port}/v1/epochs/latest"
    # asked again once where the network node's connection was cut (its own step's retry
    # renews it): that must not fail this node's step
    for _ in range(2):
        try:
            code, doc = node_json(there, url)
            return read_epoch(doc) if code == 200 else None
        except ConnectionLost:
            continue
        except (StepFailed, ValueError):
            return None
    return None


def wait_for_window(ctx: NodeContext, what: str) -> None:
    """Stop `what` while PoC runs on the node's cluster, unless the run was forced."""
    epoch = epoch_now(ctx)
    if epoch is None:
        return
    hold = poc_hold(
        epoch.phase, epoch.confirmation_poc, epoch.block_height, epoch.window_at, ctx.cluster.name
    )
    if hold is None:
        return
    reason = ctx.engine.force_reason
    if not reason:
        raise StepFailed(f"{what} waits: {hold}. To go on anyway: --force REASON")
    note(ctx, f"{what}: forced during PoC by {getpass.getuser()}: {reason} ({hold})")
