"""Participant and ML node registration through the admin API (port 9200 on the network
node, reached through an SSH forward: it must never be public).

For now: disabling and enabling an ML node, which the runbooks offer before a PoC.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from console.ssh import Pool

ADMIN_PORT = 9200


class AdminError(Exception):
    pass


def set_ml_node_enabled(pool: Pool, network_node: str, ml_id: str, enabled: bool) -> str:
    """POST /admin/v1/nodes/{id}/enable|disable; returns the API's message. A disabled node
    stays active until the epoch ends and skips the next PoC (protocols.md §1.5)."""
    port = pool.forward(network_node, ADMIN_PORT)
    verb = "enable" if enabled else "disable"
    url = f"http://127.0.0.1:{port}/admin/v1/nodes/{quote(ml_id, safe='')}/{verb}"
    try:
        resp = httpx.post(url, timeout=10)
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
