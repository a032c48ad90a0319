"""The load test's result as the operator reads it: a table per node and for the fleet,
or a JSON document (schema 1), and the line the journal keeps per node."""

from __future__ import annotations

from console.core.loadtest import NodeResult, Slo


def fmt(s: float | None, timeout: float) -> str:
    return f">{timeout:g} s" if s is None else f"{s:.2f} s"


def figures(r: NodeResult) -> dict:
    def pct(n: int) -> float | None:
        return round(100 * n / r.sent, 2) if r.sent else None

    return {
        "requests": r.sent,
        "p50_s": r.percentile(50),
        "p95_s": r.percentile(95),
        "p99_s": r.percentile(99),
        "timeouts": r.timeouts,
        "errors": r.errors,
        "timeout_pct": pct(r.timeouts),
        "error_pct": pct(r.errors),
        "tokens_per_s": round(r.tokens_per_s(), 1),
        "wall_s": round(r.wall_s, 3),
        "first_errors": r.first_errors(),
    }


def journal_line(r: NodeResult, slo: Slo, concurrency: int, timeout: float) -> str:
    met, _ = slo.verdict(r)
    return (
        f"p95 {fmt(r.percentile(95), timeout)}, {r.timeouts} timeouts and {r.errors} errors "
        f"in {r.sent}, {r.tokens_per_s():.0f} tok/s at {concurrency} concurrent: "
        + ("SLO met" if met else "SLO missed")
    )


def document(
    fleet: str,
    run_id: str,
    slo: Slo,
    settings: dict,
    results: list[NodeResult],
    unreachable: dict[str, str],
    left: list[str],
) -> dict:
    whole = NodeResult.of_fleet(results)
    nodes = []
    for r in results:
        met, missed = slo.verdict(r)
        t = r.target
        nodes.append(
            {"node": t.node, "cluster": t.cluster, "model": t.model}
            | figures(r)
            | {"slo_met": met, "missed": missed}
        )
    nodes += [
        {"node": name, "slo_met": False, "missed": [f"not reached: {why}"]}
        for name, why in unreachable.items()
    ]
    return {
        "schema": 1,
        "fleet": fleet,
        "run": run_id,
        "slo": {"p95_s": slo.p95_s, "failed_pct": slo.failed_pct},
        "settings": settings,
        "nodes": nodes,
        "fleet_result": figures(whole),
        "slo_met": all(n["slo_met"] for n in nodes),
        "not_measured": left,
    }


def table(
    slo: Slo, results: list[NodeResult], unreachable: dict[str, str], timeout: float
) -> list[str]:
    lines = [
        f"{'NODE':<16}{'SENT':>6}{'P50':>9}{'P95':>9}{'P99':>9}{'TIMEOUT':>9}"
        f"{'ERROR':>8}{'TOK/S':>8}  SLO"
    ]

    def row(name: str, r: NodeResult) -> str:
        met, missed = slo.verdict(r)

        def pct(n: int) -> str:
            return f"{100 * n / r.sent:.1f} %" if r.sent else "-"

        return (
            f"{name:<16}{r.sent:>6}{fmt(r.percentile(50), timeout):>9}"
            f"{fmt(r.percentile(95), timeout):>9}{fmt(r.percentile(99), timeout):>9}"
            f"{pct(r.timeouts):>9}{pct(r.errors):>8}{r.tokens_per_s():>8.0f}  "
            + ("✓ met" if met else "✗ " + "; ".join(missed))
        )

    for r in results:
        lines.append(row(r.target.node, r))
        if not slo.verdict(r)[0]:
            lines += [f"{'':<16}{e}" for e in r.first_errors()]
    lines += [f"{name:<16}not reached: {why}" for name, why in unreachable.items()]
    lines.append(row("(fleet)", NodeResult.of_fleet(results)))
    return lines
