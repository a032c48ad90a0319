"""Which accelerators a node has, as a deploy needs them: each vendor's tool asked in one
round trip (its adapter's inventory command, console/core/accelerators/), the first vendor
whose tool lists devices taken. A step asks `inventory(ctx)` and never names a vendor."""

from __future__ import annotations

import shlex

from actions.engine import NodeContext, StepFailed
from console.core.accelerators import ACCELERATORS
from console.core.accelerators.base import Accelerator, DeviceDeploy

MARK = "==fleetdeck-devices "


def script() -> str:
    """One shell line: each vendor's inventory where its tool is there, each after a mark."""
    parts = []
    for a in ACCELERATORS.values():
        d = a.deploy
        if d is None:
            continue
        parts.append(
            f"if command -v {shlex.quote(a.tool)} >/dev/null 2>&1; then "
            f"echo {shlex.quote(MARK + a.name)}; {d.inventory} 2>&1; fi"
        )
    return "; ".join(parts) + "; true"


def inventory(ctx: NodeContext) -> tuple[Accelerator, DeviceDeploy, list[tuple[str, float]]]:
    """(the node's vendor, what a deploy needs of it, its devices: (index, memory MiB)),
    read once per node and run; a node whose tools list nothing is a failure that says
    what to install."""
    if "inventory" not in ctx.facts:
        out = ctx.run(script(), quiet=True, check=False)
        found: dict[str, str] = {}
        vendor = None
        for line in out.stdout.splitlines():
            if line.startswith(MARK):
                vendor = line[len(MARK) :].strip()
                found[vendor] = ""
            elif vendor is not None:
                found[vendor] += line + "\n"
        listed = [
            (ACCELERATORS[v], devices)
            for v, text in found.items()
            if v in ACCELERATORS and (devices := ACCELERATORS[v].deploy.parse(text))  # type: ignore[union-attr]
        ]
        if not listed:
            tools = [ACCELERATORS[v] for v in found if v in ACCELERATORS]
            if tools:  # a tool is there and lists nothing: its own words say why
                a = tools[0]
                said = found[a.name].strip().splitlines()
                raise StepFailed(
                    f"{a.tool} lists no device: {said[0][:200] if said else 'no output'}"
                )
            raise StepFailed(
                "no accelerator tool on the node ("
                + ", ".join(a.tool for a in ACCELERATORS.values() if a.deploy)
                + "): "
                + "; or ".join(
                    f"{a.label}: {a.deploy.missing}" for a in ACCELERATORS.values() if a.deploy
                )
            )
        accelerator, devices = max(listed, key=lambda kv: len(kv[1]))
        ctx.facts["inventory"] = (accelerator, accelerator.deploy, devices)
    return ctx.facts["inventory"]
