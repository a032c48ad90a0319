"""`fleetdeck loadtest`: the fleet's inference providers under load, judged on the SLO the
profile sets ([alerts] inference_p95_s, inference_timeout_pct, inference_concurrency).

Requests go from this machine through an SSH forward to each node's own 127.0.0.1 (or,
with --via public, to the node's `public_url` in the profile): never anywhere the profile
does not name. Timeouts and errors count in every figure (console/loadtest.py). The result
is kept in the journal as a `loadtest` run, a step `slo` per node, which the console's node
screen shows in its history.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path

import click

from console.cli.common import ACCEPT_NEW, engine_for, load_or_exit
from console.cli.group import EXIT_FAILED, EXIT_INVALID, cli

STACKS = {"ollama": "ollama_port", "vllm": "vllm_port"}
DEFAULT_PROMPT = "In one sentence: why is the sky blue?"
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def seconds(value: str, what: str) -> float:
    m = DURATION.match(value.strip())
    if not m:
        raise click.BadParameter(f"{value!r} is not a duration (2s, 500ms, 1.5)", param_hint=what)
    n = float(m.group(1))
    return n / 1000 if m.group(2) == "ms" else n * 60 if m.group(2) == "m" else n


def fmt(s: float | None, timeout: float) -> str:
    return f">{timeout:g} s" if s is None else f"{s:.2f} s"


class Progress:
    """A bar on a terminal; on anything else a line at each quarter."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.tty = sys.stderr.isatty()
        self.said = 0

    def __call__(self, node: str, outcome) -> None:
        self.done += 1
        self.failed += not outcome.ok
        if self.tty:
            filled = 30 * self.done // self.total
            click.echo(
                f"\r[{'#' * filled}{' ' * (30 - filled)}] {self.done}/{self.total} "
                f"requests, {self.failed} failed ",
                err=True,
                nl=False,
            )
        elif 4 * self.done // self.total > self.said:
            self.said = 4 * self.done // self.total
            click.echo(f"{self.done}/{self.total} requests, {self.failed} failed", err=True)

    def end(self) -> None:
        if self.tty:
            click.echo("", err=True)


@cli.command("loadtest")
@click.argument("profile", type=click.Path())
@click.option("--limit", multiple=True, help="nodes, roles or clusters (repeatable)")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 2000),
    default=None,
    help="requests in flight per node (default: [alerts] inference_concurrency, else 100)",
)
@click.option(
    "--requests",
    "count",
    type=click.IntRange(1, 100_000),
    default=None,
    help="requests per node (default: twice the concurrency)",
)
@click.option("--timeout", "timeout_text", default="2s", show_default=True, help="per request")
@click.option("--prompt", default=None, help="the prompt of every request")
@click.option(
    "--prompts",
    "prompts_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a file of prompts, one per line, used in turn",
)
@click.option(
    "--max-time",
    "max_time_text",
    default="300s",
    show_default=True,
    help="no request starts after this long",
)
@click.option(
    "--via",
    type=click.Choice(["ssh", "public"]),
    default="ssh",
    show_default=True,
    help="an SSH forward to the node's loopback, or the node's public_url",
)
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@ACCEPT_NEW
def loadtest_cmd(
    profile: str,
    limit: tuple[str, ...],
    concurrency: int | None,
    count: int | None,
    timeout_text: str,
    prompt: str | None,
    prompts_file: Path | None,
    max_time_text: str,
    via: str,
    as_json: bool,
    accept_new_host_keys: bool,
) -> None:
    """Load each inference provider (Ollama, vLLM) and judge it on the profile's SLO.
    Exit 0 when every node meets it, 4 when one misses it or cannot be reached."""
    from actions.engine import targets
    from actions.types import StepFailed
    from console.loadtest import NodeResult, Slo, Target, run_load

    timeout = seconds(timeout_text, "--timeout")
    max_time = seconds(max_time_text, "--max-time")
    if prompt and prompts_file:
        raise click.UsageError("--prompt or --prompts, not both")
    prompts = [prompt or DEFAULT_PROMPT]
    if prompts_file:
        prompts = [p for p in prompts_file.read_text().splitlines() if p.strip()]
        if not prompts:
            raise click.BadParameter(f"{prompts_file} has no prompt", param_hint="--prompts")
    loaded = load_or_exit(profile)
    model = loaded.model
    alerts = model.alerts
    concurrency = concurrency or alerts.inference_concurrency or 100
    count = count or 2 * concurrency
    slo = Slo(alerts.inference_p95_s, alerts.inference_timeout_pct)
    try:
        chosen = targets(model, limit)
    except StepFailed as exc:
        click.echo(f"fleetdeck: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    measured, left = [], []
    for cluster, node in chosen:
        stack = model.cluster_stack(cluster)
        served = node.model or (node.models[0] if node.models else None)
        if stack not in STACKS:
            left.append(f"{node.name} (stack {stack}: not an inference provider)")
        elif not served:
            left.append(f"{node.name} (serves no model)")
        elif via == "public" and not node.public_url:
            click.echo(
                f"fleetdeck: {node.name} has no public_url in the profile: --via public "
                "sends only to the URLs the profile names (or use --via ssh)",
                err=True,
            )
            sys.exit(EXIT_INVALID)
        else:
            measured.append((cluster, node, stack, served))
    if not measured:
        click.echo("fleetdeck: no inference provider to load: " + "; ".join(left), err=True)
        sys.exit(EXIT_INVALID)

    engine, pool = engine_for(loaded, accept_new_host_keys)
    journal = engine.journal
    bases: dict[str, str] = {}
    unreachable: dict[str, str] = {}
    if via == "public":
        bases = {node.name: str(node.public_url).rstrip("/") for _, node, _, _ in measured}
    else:
        ports = {
            node.name: getattr(model.stack_settings(cluster), STACKS[stack])
            for cluster, node, stack, _ in measured
        }
        opened = pool.fan_out(
            ports, lambda name: f"http://127.0.0.1:{pool.forward(name, ports[name])}"
        )
        for name, got in opened.items():
            if isinstance(got, Exception):
                unreachable[name] = str(got)
            else:
                bases[name] = got
    run_targets = [
        Target(node.name, cluster.name, stack, bases[node.name], served)
        for cluster, node, stack, served in measured
        if node.name in bases
    ]
    if not as_json:
        click.echo(
            f"loadtest on {model.fleet.name}: {len(run_targets)} nodes, {count} requests each, "
            f"{concurrency} at once, timeout {timeout:g} s; SLO p95 ≤ {slo.p95_s:g} s, "
            f"failed ≤ {slo.failed_pct:g} %"
        )
        for why in left:
            click.echo(f"  not measured: {why}")
    options = {
        "concurrency": concurrency,
        "requests": count,
        "timeout_s": timeout,
        "via": via,
        "limit": list(limit),
    }
    run_id = journal.start_run("loadtest", model.fleet.name, str(loaded.file), options)
    progress = Progress(max(1, count * len(run_targets)))
    started = time.time()
    try:
        results = asyncio.run(
            run_load(run_targets, prompts, count, concurrency, timeout, max_time, progress)
        )
    except KeyboardInterrupt:
        progress.end()
        journal.finish_run(run_id, "cancelled")
        click.echo("loadtest cancelled: nothing kept", err=True)
        sys.exit(130)
    finally:
        pool.close()
    progress.end()

    nodes_out, all_met = [], not unreachable
    for r in results:
        met, missed = slo.verdict(r)
        all_met = all_met and met
        summary = (
            f"p95 {fmt(r.percentile(95), timeout)}, {r.timeouts} timeouts and {r.errors} errors "
            f"in {r.sent}, {r.tokens_per_s():.0f} tok/s at {concurrency} concurrent: "
            + ("SLO met" if met else "SLO missed")
        )
        journal.plan_steps(run_id, r.target.node, ["slo"])
        journal.set_step(
            run_id, r.target.node, "slo", "done" if met else "failed", summary, "; ".join(missed)
        )
        nodes_out.append((r, met, missed))
    for name, why in unreachable.items():
        journal.plan_steps(run_id, name, ["slo"])
        journal.set_step(run_id, name, "slo", "failed", "not measured", why)
    journal.finish_run(run_id, "succeeded" if all_met else "failed")

    fleet_result = NodeResult(
        Target("fleet", "", "", "", ""),
        [o for r in results for o in r.outcomes],
        max((r.wall_s for r in results), default=0.0),
    )
    if as_json:

        def figures(r: NodeResult) -> dict:
            return {
                "requests": r.sent,
                "p50_s": r.percentile(50),
                "p95_s": r.percentile(95),
                "p99_s": r.percentile(99),
                "timeouts": r.timeouts,
                "errors": r.errors,
                "timeout_pct": round(100 * r.timeouts / r.sent, 2) if r.sent else None,
                "error_pct": round(100 * r.errors / r.sent, 2) if r.sent else None,
                "tokens_per_s": round(r.tokens_per_s(), 1),
                "wall_s": round(r.wall_s, 3),
                "first_errors": r.first_errors(),
            }

        doc = {
            "schema": 1,
            "fleet": model.fleet.name,
            "run": run_id,
            "started": started,
            "slo": {"p95_s": slo.p95_s, "failed_pct": slo.failed_pct},
            "settings": options | {"max_time_s": max_time},
            "nodes": [
                {"node": r.target.node, "cluster": r.target.cluster, "model": r.target.model}
                | figures(r)
                | {"slo_met": met, "missed": missed}
                for r, met, missed in nodes_out
            ]
            + [
                {"node": name, "slo_met": False, "missed": [f"not reached: {why}"]}
                for name, why in unreachable.items()
            ],
            "fleet_result": figures(fleet_result),
            "slo_met": all_met,
            "not_measured": left,
        }
        click.echo(json.dumps(doc, indent=1))
    else:
        click.echo(
            f"{'NODE':<16}{'SENT':>6}{'P50':>9}{'P95':>9}{'P99':>9}{'TIMEOUT':>9}"
            f"{'ERROR':>8}{'TOK/S':>8}  SLO"
        )

        def row(name: str, r: NodeResult, verdict: str) -> str:
            pct = (lambda n: f"{100 * n / r.sent:.1f} %") if r.sent else (lambda n: "-")
            return (
                f"{name:<16}{r.sent:>6}{fmt(r.percentile(50), timeout):>9}"
                f"{fmt(r.percentile(95), timeout):>9}{fmt(r.percentile(99), timeout):>9}"
                f"{pct(r.timeouts):>9}{pct(r.errors):>8}{r.tokens_per_s():>8.0f}  {verdict}"
            )

        for r, met, missed in nodes_out:
            click.echo(row(r.target.node, r, "✓ met" if met else "✗ " + "; ".join(missed)))
            for e in r.first_errors() if not met else []:
                click.echo(f"{'':<16}{e}")
        for name, why in unreachable.items():
            click.echo(f"{name:<16}{'not reached: ' + why}")
        fmet, fmissed = slo.verdict(fleet_result)
        click.echo(row("(fleet)", fleet_result, "✓ met" if fmet else "✗ " + "; ".join(fmissed)))
        click.echo(f"kept in the journal as run {run_id}")
    sys.exit(0 if all_met else EXIT_FAILED)
