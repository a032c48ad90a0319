"""Burn-rate pages: a cluster whose downtime spends the SLO's error budget too fast, by
the SRE workbook's multiwindow rule: fast (a long window and a short one both above the
rate, so a burn that has stopped stops paging) pages as critical, slow as a warning."""

from __future__ import annotations

from console.core.history.store import History
from console.core.history.uptime import burn_rate
from console.core.paging.rules import RANK, Page, rule_for
from console.core.profile.schema import FleetProfile

# (severity, long window, short window, rate): 2 % of a 30-day budget in an hour, 5 % in six
WINDOWS = (("critical", 3600, 300, 14.4), ("warning", 6 * 3600, 1800, 6.0))
KIND = "slo_burn"


def burn_pages(history: History, fleet: FleetProfile, now: float) -> dict[str, Page]:
    clusters = {c.name: c for c in fleet.clusters}
    out: dict[str, Page] = {}
    for severity, long_s, short_s, rate in WINDOWS:
        longs = burn_rate(history, fleet, long_s, now)
        shorts = burn_rate(history, fleet, short_s, now)
        for name, burning in longs.items():
            if burning < rate or shorts.get(name, 0.0) < rate or name not in clusters:
                continue
            labels = dict(clusters[name].labels)
            rule = rule_for(fleet, name, labels, KIND)
            if not rule.page or RANK[severity] < RANK[rule.severity or "critical"]:
                continue
            key = f"{fleet.fleet.name}/cluster {name}/{KIND}"
            if key in out:
                continue  # the fast window's page stands for both
            hours = long_s // 3600
            out[key] = Page(
                key=key,
                fleet=fleet.fleet.name,
                cluster=name,
                node=f"cluster {name}",
                kind=KIND,
                severity=severity,
                summary=f"the uptime budget burns {burning:.1f}x too fast",
                evidence=(
                    f"over the last {hours} h its nodes were down {burning:.1f} times the "
                    f"{100 - fleet.slo.uptime:g} % the {fleet.slo.uptime:g} % SLO allows "
                    f"({shorts[name]:.1f}x over the last {short_s // 60} min)"
                ),
                next_step="find what keeps its nodes down (fleetdeck uptime PROFILE --by node "
                "--since 6h), and fix it before the month's budget is gone",
                since=now,
                labels=tuple(sorted(labels.items())),
            )
    return out
