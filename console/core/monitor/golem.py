"""`golemsp status`, read: a Golem provider's service, wallet and tasks.

Its output is three boxes drawn with box characters (reference/real/golem): Status, Wallet
and Tasks side by side on a terminal wider than 120 columns, one under the other on a
narrower one (golem_cli's status.rs). Each line is cut at the box's `│` into cells; a
cell is one `label  value` pair, whichever layout it came in.
"""

from __future__ import annotations

import re

from console.core.state import Golem

BOX = re.compile(r"[│┃|]")
WALLET = re.compile(r"\b0x[0-9a-fA-F]{40}\b")
GLM = re.compile(r"(-?[\d.]+)\s*GLM")
COUNT = re.compile(r"(\d+)\s*$")


def cells(text: str) -> list[str]:
    """Every box cell's text, in reading order (left to right, top to bottom)."""
    out = []
    for line in text.splitlines():
        if not BOX.search(line):
            continue
        for part in BOX.split(line)[1:-1] or BOX.split(line):
            part = part.strip()
            if part:
                out.append(part)
    return out


def _value(cell: str, label: str) -> str | None:
    if cell.lower().startswith(label.lower()):
        rest = cell[len(label) :].strip()
        return rest or None
    return None


def parse(text: str) -> Golem | None:
    """The provider's status, or None when `text` is not golemsp's status boxes."""
    found = cells(text)
    if not any(c.startswith("Service") for c in found):
        return None
    values: dict[str, str] = {}
    labels = ("Service", "Version", "Node Name", "Subnet", "VM", "network", "amount (total)")
    labels += ("pending", "issued", "last 1h processed", "last 1h in progress")
    labels += ("total processed",)
    wallet = None
    for cell in found:
        if wallet is None and (m := WALLET.search(cell)):
            wallet = m.group(0)
            continue
        for label in labels:
            value = _value(cell, label)
            if value is not None and label not in values:
                values[label] = value
                break
    service = values.get("Service", "")

    def glm(label: str) -> float | None:
        m = GLM.search(values.get(label, ""))
        return float(m.group(1)) if m else None

    def count(label: str) -> int | None:
        m = COUNT.search(values.get(label, ""))
        return int(m.group(1)) if m else None

    return Golem(
        running=service == "is running",
        service=service or None,
        version=values.get("Version"),
        node_name=values.get("Node Name"),
        subnet=values.get("Subnet"),
        vm=values.get("VM"),
        wallet=wallet,
        network=values.get("network"),
        glm_total=glm("amount (total)"),
        glm_pending=glm("pending"),
        tasks_last_hour=count("last 1h processed"),
        tasks_running=count("last 1h in progress"),
        tasks_total=count("total processed"),
    )


def reading(sent: dict) -> dict:
    """The NodeStatus fields a probe's `golem` reading sets: golem and golem_error."""
    text, error = str(sent.get("text") or ""), sent.get("error")
    status = parse(text)
    if status is None and error is None:
        error = "golemsp status printed no status boxes: " + (text.strip()[:120] or "nothing")
    return {"golem": status, "golem_error": str(error) if error else None}
