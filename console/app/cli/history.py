"""`fleetdeck uptime PROFILE` and `fleetdeck history PROFILE NODE`: what a running (or
past) `fleetdeck watch` of the fleet kept, read from its history file."""

from __future__ import annotations

import csv
import json
import re
import sys
import time

import click

from console.app.cli.common import load_or_exit
from console.app.cli.group import EXIT_INVALID, cli

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Span(click.ParamType):
    """A length of time: 45s, 90m, 24h, 30d."""

    name = "span"

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", str(value).strip())
        if not m or float(m.group(1)) <= 0:
            self.fail(f"{value!r} is not a span of time (45s, 90m, 24h, 30d)", param, ctx)
        return float(m.group(1)) * UNITS[m.group(2)]


def open_history(fleet):
    from console.core.history.store import History, history_path
    from console.core.journal import state_dir

    path = history_path(state_dir(), fleet.fleet.name)
    if not path.exists():
        click.echo(
            f"fleetdeck: no history of {fleet.fleet.name} here ({path})\n"
            "    fix: run `fleetdeck watch PROFILE` (it keeps the history) on this machine",
            err=True,
        )
        sys.exit(EXIT_INVALID)
    return History(path)


def minutes(seconds: float) -> str:
    if seconds >= 5940:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


@cli.command("uptime")
@click.argument("profile", type=click.Path())
@click.option("--since", "span", type=Span(), default="30d", show_default=True)
@click.option("--by", type=click.Choice(["node", "cluster", "region"]), default="node")
@click.option("--json", "as_json", is_flag=True, help="one object per node, cluster or region")
@click.option("--csv", "as_csv", is_flag=True, help="comma-separated, a header first")
def uptime_cmd(profile: str, span: float, by: str, as_json: bool, as_csv: bool) -> None:
    """UP, DOWN and UNKNOWN time against the [slo] uptime, from the watch's history."""
    from console.core.history.uptime import uptime

    fleet = load_or_exit(profile, after="").model
    history = open_history(fleet)
    now = time.time()
    try:
        rows = uptime(history, fleet, now - span, now, by)
    finally:
        history.close()
    docs = [r.to_json() for r in rows]
    if as_json:
        click.echo(json.dumps({"schema": 1, "since_s": span, "by": by, "rows": docs}, indent=1))
        return
    if as_csv:
        out = csv.DictWriter(sys.stdout, fieldnames=list(docs[0]) if docs else ["name"])
        out.writeheader()
        out.writerows(docs)
        return
    slo = fleet.slo
    click.echo(
        f"{fleet.fleet.name}: uptime over the last {minutes(span)} against {slo.uptime:g} % "
        f"({minutes((1 - slo.uptime / 100) * slo.window_days * 86400)} of downtime per node "
        f"in {slo.window_days:g} days); UNKNOWN is time fleetdeck could not look"
    )
    width = max([len(r.name) for r in rows] + [4])
    click.echo(
        f"{'':2}{'name':<{width}}  {'uptime':>8}  {'up':>10}  {'down':>10}  {'unknown':>10}  "
        f"{'outages':>7}  {'longest':>10}  {'budget left':>11}"
    )
    for r in rows:
        pct = "—" if r.uptime is None else f"{100 * r.uptime:.3f}%"
        mark = (
            "✗ "
            if r.budget_left_s < 0
            else "! "
            if r.uptime is not None and r.uptime < r.slo
            else "  "
        )
        click.echo(
            f"{mark}{r.name:<{width}}  {pct:>8}  {minutes(r.up_s):>10}  {minutes(r.down_s):>10}  "
            f"{minutes(r.unknown_s):>10}  {r.episodes:>7}  {minutes(r.longest_s):>10}  "
            f"{minutes(r.budget_left_s):>11}"
        )


COLUMNS = (
    "time",
    "width_s",
    "up_s",
    "down_s",
    "unknown_s",
    "samples",
    "gpu_util_pct",
    "gpu_mem_pct",
    "gpu_temp_c",
    "restarts",
    "height",
    "lag_blocks",
)


@cli.command("history")
@click.argument("profile", type=click.Path())
@click.argument("node")
@click.option("--since", "span", type=Span(), default="24h", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
def history_cmd(profile: str, node: str, span: float, as_json: bool, as_csv: bool) -> None:
    """A node's state and signals per minute (ten minutes past two days), from the watch."""
    fleet = load_or_exit(profile, after="").model
    if fleet.node(node) is None:
        click.echo(f"fleetdeck: no node {node!r} in {profile}", err=True)
        sys.exit(EXIT_INVALID)
    history = open_history(fleet)
    try:
        rows = history.buckets(time.time() - span, node)
    finally:
        history.close()
    records = [dict(zip(COLUMNS, row[1:], strict=True)) for row in rows]
    for r in records:
        r["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["time"]))
    if as_json:
        click.echo(json.dumps({"schema": 1, "node": node, "rows": records}, indent=1))
    elif as_csv:
        out = csv.DictWriter(sys.stdout, fieldnames=COLUMNS)
        out.writeheader()
        out.writerows(records)
    else:
        click.echo(f"{node}: {len(records)} buckets since {minutes(span)} ago")
        for r in records:
            state = "down" if r["down_s"] else "unknown" if not r["up_s"] else "up"
            util = "—" if r["gpu_util_pct"] is None else f"{r['gpu_util_pct']:.0f}%"
            temp = "—" if r["gpu_temp_c"] is None else f"{r['gpu_temp_c']:.0f}°C"
            click.echo(f"  {r['time']}  {state:<7}  util {util:>4}  hottest {temp:>5}")
