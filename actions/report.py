"""Plans and runs as text and JSON, for `fleetdeck plan` and `fleetdeck run`."""

from __future__ import annotations

from collections import Counter

from actions.types import Event, EventKind, PlanItem, RunResult
from console.core.text import printable

MARK = {"change": "~", "unchanged": "=", "skipped": "-", "after": "?", "error": "!"}
STATE_MARK = {
    "done": "✓ done",
    "unchanged": "= unchanged",
    "failed": "✗ failed",
    "skipped": "- skipped",
    "cancelled": "- cancelled",
    "retrying": "↻ retrying",
}


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def plan_counts(items: list[PlanItem]) -> Counter[str]:
    return Counter(i.status for i in items)


def plan_text(action: str, fleet: str, items: list[PlanItem], notes: list[str] = ()) -> str:
    counts = plan_counts(items)
    nodes = list(dict.fromkeys(i.node for i in items))
    head = (
        f"{action} on {fleet}: {plural(len(nodes), 'node')}; "
        f"{plural(counts['change'], 'step')} will change, "
        f"{counts['unchanged']} unchanged, {counts['skipped']} skipped"
    )
    if counts["after"]:
        head += f", {counts['after']} checked after earlier changes"
    if counts["error"]:
        head += f", {counts['error']} cannot be checked"
    out = [head]
    if not counts["change"] and not counts["error"]:
        out.append("nothing to change: every step is already done")
    width = max((len(i.step) for i in items), default=8)
    for node in nodes:
        out.append("")
        out.append(node)
        for item in (i for i in items if i.node == node):
            mark = MARK[item.status]
            if item.status == "change" and item.change:
                out.append(f"  {mark} {item.step:<{width}}  {item.change.summary}")
                out += [f"      $ {c}" for c in item.change.commands]
                out += [f"      {line}" for line in item.change.diff.splitlines()]
            elif item.status == "error":
                out.append(f"  {mark} {item.step:<{width}}  cannot check: {item.reason}")
            else:
                label = item.reason or "unchanged"
                out.append(f"  {mark} {item.step:<{width}}  {label}")
    if notes:  # what the action cannot do, said where the plan is read
        out += ["", "notes:"] + [f"  ! {note}" for note in notes]
    return "\n".join(out)


def plan_json(action: str, fleet: str, items: list[PlanItem], notes: list[str] = ()) -> dict:
    return {
        "schema": 1,
        "action": action,
        "fleet": fleet,
        "counts": dict(plan_counts(items)),
        "notes": list(notes),
        "items": [
            {
                "node": i.node,
                "step": i.step,
                "status": i.status,
                "summary": i.change.summary if i.change else i.reason,
                "commands": list(i.change.commands) if i.change else [],
                "diff": i.change.diff if i.change else "",
            }
            for i in items
        ],
    }


def event_line(event: Event, width: int = 12) -> str | None:
    """One terminal line for an event, prefixed by node and step; None for quiet ones."""
    prefix = f"{event.node:<{width}} {event.step:<13}"
    if event.kind == EventKind.LINE:
        return f"{prefix} | {printable(event.text)}"
    if event.kind == EventKind.STATE:
        if event.state == "running":
            return f"{prefix} … attempt {event.attempt}" if event.attempt > 1 else None
        if event.state == "unchanged" and event.text == "passed":
            return f"{prefix} ✓ passed"
        mark = STATE_MARK.get(event.state, event.state)
        if event.state in ("retrying", "failed"):  # the cause was the ✗ line just before
            return f"{prefix} {mark}" + (
                f" after attempt {event.attempt}" if event.state == "retrying" else ""
            )
        return f"{prefix} {mark}" + (f": {printable(event.text)}" if event.text else "")
    if event.kind == EventKind.RUN:  # the end of the run is said by the summary
        if event.state != "running":
            return None
        return f"run {event.run_id}: {event.state}" + (f" ({event.text})" if event.text else "")
    return None


def event_json(event: Event) -> dict:
    doc = {"event": event.kind, "run": event.run_id}
    for key in ("node", "step", "state", "text"):
        value = getattr(event, key)
        if value:
            doc[key] = value
    if event.attempt:
        doc["attempt"] = event.attempt
    if event.progress is not None:
        doc["progress"] = event.progress
    return doc


def run_summary(result: RunResult, action: str, profile: str) -> str:
    lines = [f"run {result.run_id}: {result.outcome}"]
    for node, steps in result.states.items():
        c = Counter(steps.values())
        parts = [f"{c[s]} {s}" for s in ("done", "unchanged", "skipped", "failed", "cancelled")]
        parts += [f"{c['pending']} not started"] if c["pending"] else []
        lines.append(f"  {node}: " + ", ".join(p for p in parts if not p.startswith("0 ")))
    if result.outcome != "succeeded":
        lines.append(f"resume with: fleetdeck run {profile} {action} --resume {result.run_id}")
    return "\n".join(lines)
