"""Gonka's admin API ML-node switch (port 9200 on the network node, reached over its SSH
connection: it must never be public): disabling and enabling an ML node, which the
runbook card offers before a PoC (the stack's remedy `disable-ml-node`). Registration itself
is actions/stacks/gonka_register.py."""

from __future__ import annotations

from urllib.parse import quote

from actions.types import StepFailed
from console.core.transport.ssh import Pool

ADMIN_PORT = 9200


class AdminError(StepFailed):
    """The admin API refused or did not answer."""


def set_ml_node_enabled(pool: Pool, network_node: str, ml_id: str, enabled: bool) -> str:
    """POST /admin/v1/nodes/{id}/enable|disable; returns the API's message. A disabled node
    stays active until the epoch ends and skips the next PoC (protocols.md §1.5)."""
    # imported here: httpx costs every command's start ~60 ms, and this runs only on a remedy
    import httpx  # noqa: PLC0415

    from console.core.transport.sshhttp import node_client  # noqa: PLC0415

    verb = "enable" if enabled else "disable"
    url = f"http://127.0.0.1:{ADMIN_PORT}/admin/v1/nodes/{quote(ml_id, safe='')}/{verb}"
    client, _ = node_client(pool, network_node, timeout=10)
    try:
        with client:
            resp = client.post(url)
    except httpx.HTTPError as exc:
        raise AdminError(f"admin API of {network_node} did not answer: {exc}") from None
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200:
        reason = body.get("error") or resp.text[:200]
        raise AdminError(f"{verb} {ml_id} on {network_node}: HTTP {resp.status_code}: {reason}")
    return str(body.get("message") or f"node {verb}d")


def disable_ml_node(pool: Pool, network_node: str, ml_id: str) -> str:
    """The remedy `disable-ml-node`: the ML node skips the next PoC."""
    return set_ml_node_enabled(pool, network_node, ml_id, enabled=False)
