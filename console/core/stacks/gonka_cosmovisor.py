"""What Cosmovisor keeps on a Gonka network node's disk, as the probe's Gonka part reads it
(gonka_probe.py), and the alert when the chain stopped at an upgrade's height with no
binary for it: Cosmovisor then cannot switch, the node container only restarts, and the
chain's RPC is gone (reference/gonka-0.2.15.md §3.3)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.core.monitor.findings import Finding

if TYPE_CHECKING:
    from console.core.state import NodeStatus


@dataclass(frozen=True)
class Cosmovisor:
    deploy_dir: str
    upgrade: str | None  # the upgrade the chain stopped for (upgrade-info.json), if any
    upgrade_height: int | None
    prepared: tuple[str, ...]  # upgrades with their inferenced in place

    @property
    def missing_binary(self) -> bool:
        return bool(self.upgrade) and self.upgrade not in self.prepared


def reading(sent: dict) -> dict:
    """The probe's `gonka` value -> the node's provider slot (Stack.read_probe)."""
    upgrade = sent.get("upgrade") if isinstance(sent.get("upgrade"), dict) else {}
    height = upgrade.get("height")
    return {
        "provider": Cosmovisor(
            deploy_dir=str(sent.get("dir") or ""),
            upgrade=str(upgrade["name"]) if upgrade.get("name") else None,
            upgrade_height=height if isinstance(height, int) else None,
            prepared=tuple(str(n) for n in sent.get("prepared") or ()),
        ),
        "provider_error": None,
    }


def upgrade_findings(node: NodeStatus) -> Iterator[Finding]:
    c = node.provider
    if not isinstance(c, Cosmovisor) or not c.missing_binary:
        return
    where = f"{c.deploy_dir}/.inference/cosmovisor/upgrades/{c.upgrade}/bin/inferenced"
    at = f" at height {c.upgrade_height}" if c.upgrade_height else ""
    yield Finding(
        f"chain_upgrade_halted:{c.upgrade}",
        "critical",
        f"chain halted for the {c.upgrade} upgrade{at}: no binary for it",
        f"upgrade-info.json names {c.upgrade}; {where} is missing"
        + (f" (prepared: {', '.join(c.prepared)})" if c.prepared else ""),
        f"put the release's inferenced (its sha256 checked against the notice) at {where}, "
        f"and its decentralized-api in .dapi/cosmovisor/upgrades/{c.upgrade}/bin/; then "
        "docker start node: Cosmovisor switches and the chain goes on",
    )
