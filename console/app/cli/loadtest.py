"""`fleetdeck loadtest`: the fleet's inference providers under load, judged on the SLO the
profile sets ([alerts] inference_p95_s, inference_timeout_pct, inference_concurrency).

Requests go from this machine through an SSH forward to each node's own 127.0.0.1 (or,
with --via public, to the node's `public_url` in the profile): never anywhere the profile
does not name. Timeouts and errors count in every figure (console/core/loadtest.py). The result
is kept in the journal as a `loadtest` run, a step `slo` per node, which the console's node
screen shows in its history.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from console.app.cli.common import ACCEPT_NEW, engine_for, limit_words, load_or_exit
from console.app.cli.group import EXIT_CANCELLED, EXIT_FAILED, EXIT_INVALID, cli
from console.core.journal import DONE, FAILED

DEFAULT_PROMPT = "In one sentence: why is the sky blue?"
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def seconds(value: str, what: str) -> float:
    m = DURATION.match(value.strip())
    if not m:
        raise click.BadParameter(f"{value!r} is not a duration (2s, 500ms, 1.5)", param_hint=what)
    n = float(m.group(1))
    n = n / 1000 if m.group(2) == "ms" else n * 60 if m.group(2) == "m" else n
    if n <= 0:
        raise click.BadParameter(f"{value!r}: a duration longer than 0", param_hint=what)
    return n


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
@click.option(
    "--answers-only",
    is_flag=True,
    help="judge only that every request is answered, not the SLO (a first check)",
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
    answers_only: bool,
    as_json: bool,
    accept_new_host_keys: bool,
) -> None:
    """Load each inference provider (Ollama, vLLM) and judge it on the profile's SLO.
    Exit 0 when every node meets it, 4 when one misses it or cannot be reached."""
    from actions.engine import targets
    from actions.types import StepFailed
    from console.core.loadtest import Slo, Target, run_load
    from console.core.loadtest_report import document, journal_line, table
    from console.core.stacks import STACKS

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
    # --answers-only: no latency objective, and not one request may fail
    slo = (
        Slo(timeout, 0.0)
        if answers_only
        else Slo(alerts.inference_p95_s, alerts.inference_timeout_pct)
    )
    try:
        chosen = targets(model, limit_words(limit))
    except StepFailed as exc:
        click.echo(f"fleetdeck: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    measured, left = [], []  # (cluster, node, its stack's API, model); what is not
    for cluster, node in chosen:
        api = STACKS[model.cluster_stack(cluster)].inference
        served = node.model or (node.models[0] if node.models else None)
        if api is None:
            left.append(f"{node.name} (stack {model.cluster_stack(cluster)}: no provider API)")
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
            measured.append((cluster, node, api, served))
    if not measured:
        click.echo("fleetdeck: no inference provider to load: " + "; ".join(left), err=True)
        sys.exit(EXIT_INVALID)

    engine, pool = engine_for(loaded, accept_new_host_keys)
    journal = engine.journal
    bases: dict[str, str] = {}
    unreachable: dict[str, str] = {}
    if via == "public":
        bases = {node.name: str(node.public_url).rstrip("/") for _, node, _, _ in measured}
    else:  # an SSH forward to each node's own loopback
        ports = {
            node.name: api.port_of(model.stack_settings(cluster))
            for cluster, node, api, _ in measured
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
        Target(node.name, cluster.name, api, bases[node.name], served)
        for cluster, node, api, served in measured
        if node.name in bases
    ]
    settings = {
        "concurrency": concurrency,
        "requests": count,
        "timeout_s": timeout,
        "max_time_s": max_time,
        "via": via,
        "limit": list(limit),
    }
    if not as_json:
        click.echo(
            f"loadtest on {model.fleet.name}: {len(run_targets)} nodes, {count} requests each, "
            f"{concurrency} at once, timeout {timeout:g} s; "
            + (
                "every request must be answered"
                if answers_only
                else f"SLO p95 ≤ {slo.p95_s:g} s, failed ≤ {slo.failed_pct:g} %"
            )
        )
        for why in left:
            click.echo(f"  not measured: {why}")
    run_id = journal.start_run("loadtest", model.fleet.name, str(loaded.file), settings)
    progress = Progress(max(1, count * len(run_targets)))
    try:
        import asyncio  # noqa: PLC0415 - here: its import cost every command's start ~20 ms

        results = asyncio.run(
            run_load(run_targets, prompts, count, concurrency, timeout, max_time, progress)
        )
    except KeyboardInterrupt:
        progress.end()
        journal.finish_run(run_id, "cancelled")
        click.echo("loadtest cancelled: nothing kept", err=True)
        sys.exit(EXIT_CANCELLED)
    finally:
        pool.close()
    progress.end()

    for r in results:
        met, missed = slo.verdict(r)
        journal.plan_steps(run_id, r.target.node, ["slo"])
        summary = journal_line(r, slo, concurrency, timeout)
        journal.set_step(
            run_id, r.target.node, "slo", DONE if met else FAILED, summary, "; ".join(missed)
        )
    for name, why in unreachable.items():
        journal.plan_steps(run_id, name, ["slo"])
        journal.set_step(run_id, name, "slo", FAILED, "not measured", why)
    doc = document(model.fleet.name, run_id, slo, settings, results, unreachable, left)
    journal.finish_run(run_id, "succeeded" if doc["slo_met"] else "failed")
    if as_json:
        click.echo(json.dumps(doc, indent=1))
    else:
        for line in table(slo, results, unreachable, timeout):
            click.echo(line)
        click.echo(f"kept in the journal as run {run_id}")
    sys.exit(0 if doc["slo_met"] else EXIT_FAILED)
