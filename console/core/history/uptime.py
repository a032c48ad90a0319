"""Uptime against the SLO, from the history: per node, cluster or region, the seconds UP,
DOWN and UNKNOWN over a window (UNKNOWN: fleetdeck could not look, its own lag or no watch
running; never the fleet's downtime), the uptime of the time that was judged, the
longest outage, the number of DOWN episodes, and the error budget left: at 99.5 % over 30
days, 216 minutes. Burn rates over a window say how fast the budget goes (1.0: exactly
used up at the window's end), as the SRE workbook's multiwindow alerts read them."""

from __future__ import annotations

from dataclasses import dataclass

from console.core.history.store import History
from console.core.profile.schema import FleetProfile


@dataclass(frozen=True)
class Uptime:
    name: str  # the node, cluster or region
    up_s: float
    down_s: float
    unknown_s: float
    episodes: int
    longest_s: float
    slo: float  # the target, a fraction (0.995)
    budget_s: float  # the downtime the SLO allows in the window

    @property
    def judged_s(self) -> float:
        return self.up_s + self.down_s

    @property
    def uptime(self) -> float | None:
        return self.up_s / self.judged_s if self.judged_s else None

    @property
    def budget_left_s(self) -> float:
        return self.budget_s - self.down_s

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "up_minutes": round(self.up_s / 60, 2),
            "down_minutes": round(self.down_s / 60, 2),
            "unknown_minutes": round(self.unknown_s / 60, 2),
            "uptime_pct": None if self.uptime is None else round(100 * self.uptime, 3),
            "slo_pct": round(100 * self.slo, 3),
            "episodes": self.episodes,
            "longest_outage_minutes": round(self.longest_s / 60, 2),
            "budget_left_minutes": round(self.budget_left_s / 60, 2),
        }


def group_of(fleet: FleetProfile, by: str) -> dict[str, str]:
    """node -> the name it is counted under: itself, its cluster, or its cluster's region."""
    out = {}
    for cluster, node in fleet.all_nodes():
        if by == "node":
            out[node.name] = node.name
        elif by == "cluster":
            out[node.name] = cluster.name
        else:
            out[node.name] = cluster.labels.get("region", "(no region)")
    return out


def uptime(
    history: History, fleet: FleetProfile, since: float, now: float, by: str = "node"
) -> list[Uptime]:
    """Each group's uptime over [since, now]; the window's time no bucket covers (no watch
    ran) is UNKNOWN. A group's time is its nodes' time added up (node-seconds)."""
    groups = group_of(fleet, by)
    window = max(0.0, now - since)
    up: dict[str, float] = {}
    down: dict[str, float] = {}
    seen: dict[str, float] = {}
    for node, (u, d) in history.totals(since, now).items():
        if node not in groups:
            continue  # a node since taken out of the profile
        g = groups[node]
        up[g] = up.get(g, 0.0) + u
        down[g] = down.get(g, 0.0) + d
        seen[g] = seen.get(g, 0.0) + u + d
    episodes: dict[str, int] = {}
    longest: dict[str, float] = {}
    for node, start, end in history.outages(since):
        if node not in groups:
            continue
        g = groups[node]
        episodes[g] = episodes.get(g, 0) + 1
        length = min(end, now) - max(start, since)
        longest[g] = max(longest.get(g, 0.0), length)
    slo = fleet.slo.uptime / 100
    out = []
    for g in sorted(set(groups.values())):
        members = sum(1 for v in groups.values() if v == g)
        total = window * members
        out.append(
            Uptime(
                g,
                up.get(g, 0.0),
                down.get(g, 0.0),
                max(0.0, total - seen.get(g, 0.0)),
                episodes.get(g, 0),
                longest.get(g, 0.0),
                slo,
                (1 - slo) * fleet.slo.window_days * 86400 * members,
            )
        )
    return out


def burn_rate(
    history: History, fleet: FleetProfile, window_s: float, now: float
) -> dict[str, float]:
    """Per cluster: the share of judged node-time DOWN over the last `window_s`, divided by
    the share the SLO allows (1 - target)."""
    allowed = 1 - fleet.slo.uptime / 100
    rates = {}
    for u in uptime(history, fleet, now - window_s, now, by="cluster"):
        if u.judged_s and allowed > 0:
            rates[u.name] = (u.down_s / u.judged_s) / allowed
    return rates
