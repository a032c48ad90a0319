"""Which alerts page, from the profile's [paging]: the first [[paging.rules]] that matches
an alert decides its least paging severity and hold time, [paging] itself where none
does. An alert pages once it has held that long at that severity or worse."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from console.core.profile.schema import FleetProfile, PagingRule
from console.core.state import Alert, FleetState

RANK = {"warning": 1, "critical": 2}


@dataclass(frozen=True)
class Page:
    """One alert as paged: what a channel says and the key that ties trigger to resolve."""

    key: str  # fleet/node/kind: one page per node and kind, whatever its words say
    fleet: str
    cluster: str
    node: str
    kind: str
    severity: str
    summary: str
    evidence: str
    next_step: str
    since: float
    labels: tuple[tuple[str, str], ...] = ()  # the cluster's labels (region, provider…)

    def to_json(self) -> dict:
        doc = dict(self.__dict__)
        doc["labels"] = dict(self.labels)
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> Page:
        return cls(**{**doc, "labels": tuple(sorted(doc.get("labels", {}).items()))})


def rule_for(fleet: FleetProfile, cluster: str, labels: dict[str, str], kind: str) -> PagingRule:
    """The rule that decides an alert of `kind` on a node of `cluster`: the first that
    matches, with [paging]'s severity and hold where it leaves them out."""
    paging = fleet.paging
    for rule in paging.rules:
        if rule.clusters and cluster not in rule.clusters:
            continue
        if rule.kinds and kind not in rule.kinds:
            continue
        if any(labels.get(k) != v for k, v in rule.labels.items()):
            continue
        return rule.model_copy(
            update={
                "severity": rule.severity or paging.severity,
                "hold_s": paging.hold_s if rule.hold_s is None else rule.hold_s,
            }
        )
    return PagingRule(severity=paging.severity, hold_s=paging.hold_s)


def due(
    fleet: FleetProfile, state: FleetState, now: float, paged: Collection[str] = ()
) -> dict[str, Page]:
    """The pages the fleet's alerts call for now, by key. A page already sent (`paged`)
    stays due without holding again: a restarted watch sees its alerts begin anew."""
    clusters = {c.name: c for c in fleet.clusters}
    out: dict[str, Page] = {}
    for alert in state.alerts:
        node = state.nodes.get(alert.node)
        cluster = node.cluster if node is not None else ""
        labels = dict(clusters[cluster].labels) if cluster in clusters else {}
        rule = rule_for(fleet, cluster, labels, alert.kind)
        if not rule.page or RANK.get(alert.severity, 0) < RANK[rule.severity or "critical"]:
            continue
        page = page_of(fleet.fleet.name, cluster, labels, alert)
        if page.key not in paged and now - alert.since < (rule.hold_s or 0.0):
            continue
        out.setdefault(page.key, page)  # one per node and kind: the first (worst) said
    return out


def page_of(fleet: str, cluster: str, labels: dict[str, str], alert: Alert) -> Page:
    return Page(
        key=f"{fleet}/{alert.node}/{alert.kind}",
        fleet=fleet,
        cluster=cluster,
        node=alert.node,
        kind=alert.kind,
        severity=alert.severity,
        summary=alert.summary,
        evidence=alert.evidence,
        next_step=alert.next_step,
        since=alert.since,
        labels=tuple(sorted(labels.items())),
    )


def quiet(pages: dict[str, Page], mutes: list, acks: list, now: float) -> set[str]:
    """The keys of pages held back: a mute covers its node and kind, or an operator
    acknowledged the alert as it reads now (the console's acknowledgement; it pages again
    when its words change)."""
    acked = {(a.node, a.kind, a.summary) for a in acks}
    return {
        key
        for key, p in pages.items()
        if (p.node, p.kind, p.summary) in acked or any(m.covers(p.node, p.kind, now) for m in mutes)
    }
