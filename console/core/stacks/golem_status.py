"""A Golem provider's status, read: `golemsp status`'s boxes (its service, wallet and
tasks), and what the probe asked of ya-provider, yagna and yagna's REST API beside them
(its identity, active presets, subnet, payment driver, health and offers).

Its output is three boxes drawn with box characters (reference/real/golem): Status, Wallet
and Tasks side by side on a terminal wider than 120 columns, one under the other on a
narrower one (golem_cli's status.rs). Each line is cut at the box's `│` into cells; a
cell is one `label  value` pair, whichever layout it came in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from console.core.stacks.base import ProviderView


@dataclass(frozen=True)
class Golem:
    """A Golem provider's status: `golemsp status`, and the JSON beside it."""

    running: bool
    service: str | None = None  # "is running", or what golemsp says instead
    version: str | None = None
    node_name: str | None = None
    subnet: str | None = None
    vm: str | None = None  # "valid" where the VM runtime (KVM) works
    wallet: str | None = None
    network: str | None = None
    glm_total: float | None = None
    glm_pending: float | None = None
    tasks_last_hour: int | None = None
    tasks_running: int | None = None
    tasks_total: int | None = None
    identity: str | None = None  # yagna's node id
    presets: tuple[str, ...] = ()  # the active presets (ya-provider preset active)
    offers: int | None = None  # offers subscribed on the market (yagna's REST API)
    health: str | None = None  # what /healthcheck says is wrong; None when ok or not asked
    driver_issues: tuple[str, ...] = ()  # payment driver problems: "network: kind"


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


def health_problem(health: object) -> str | None:
    """yagna's /healthcheck in words: None when it answers ok (or was not asked)."""
    if not isinstance(health, dict):
        return None
    if "error" in health:
        return f"yagna's REST API does not answer: {health['error']}"[:200]
    body = health.get("body")
    if health.get("status") == 200:
        return None
    if not isinstance(body, dict):
        return f"/healthcheck answers {health.get('status')}: {str(body)[:120]}"
    kind = str(body.get("type", "")).rsplit("/", 1)[-1]
    if body.get("step") == "relay-check":
        return "relay not connected (/healthcheck: relay-check failed)"
    if kind == "payment-driver-errors":
        problems = ", ".join(str(p) for p in body.get("problems") or []) or "errors"
        return f"payment driver failing (/healthcheck: {problems})"
    if kind == "market-bcast-timeout":
        return "no market broadcasts for over 2 min (/healthcheck: market-bcast-timeout)"
    return f"/healthcheck: {kind or body.get('title') or health.get('status')}"


def with_json(status: Golem, found: dict) -> Golem:
    """`golemsp status` completed by the JSON the probe read beside it."""
    ident = (found.get("id") or {}).get("Ok") if isinstance(found.get("id"), dict) else None
    config = found.get("config") if isinstance(found.get("config"), dict) else {}
    presets = found.get("presets") if isinstance(found.get("presets"), list) else None
    driver = found.get("driver") if isinstance(found.get("driver"), list) else []
    offers = found.get("offers")
    return replace(
        status,
        identity=(ident or {}).get("nodeId") or status.identity,
        node_name=config.get("node_name") or status.node_name,
        subnet=config.get("subnet") or status.subnet,
        presets=tuple(str(p) for p in presets) if presets is not None else status.presets,
        offers=offers if isinstance(offers, int) else status.offers,
        health=health_problem(found.get("health")),
        driver_issues=tuple(
            f"{d.get('network', 'N/A')}: {d.get('kind', '?')}"
            for d in driver
            if isinstance(d, dict)
        ),
    )


NO_OFFERS = "No offers Subscribed"


def reading(sent: dict) -> dict:
    """The NodeStatus fields a probe's `golem` reading sets: provider and provider_error. golemsp
    refuses to print its boxes while no offer is subscribed: the provider runs, offering
    nothing, and the JSON beside says the rest."""
    text, error = str(sent.get("text") or ""), sent.get("error")
    found = sent.get("json") if isinstance(sent.get("json"), dict) else {}
    status = parse(text)
    if status is None and error and NO_OFFERS in str(error):
        status = Golem(running=True, service="is running", offers=0)
    if status is None and error is None:
        error = "golemsp status printed no status boxes: " + (text.strip()[:120] or "nothing")
    if status is not None:
        status = with_json(status, found)
        error = None
    return {"provider": status, "provider_error": str(error) if error else None}


def view(g: object) -> ProviderView:
    """The provider as the node screen shows it: (title, running, [(label, value, alarming)])."""
    if not isinstance(g, Golem):
        return "Golem provider", False, []
    offers = (
        None
        if g.offers is None
        else f"{g.offers}" + (f" ({', '.join(g.presets)} active)" if g.presets else "")
    )
    amount = f"{g.glm_total:g} GLM" if g.glm_total is not None else None
    pending = f"{g.glm_pending:g} GLM" if g.glm_pending is not None else None
    health = g.health or ("ok" if g.offers is not None else None)
    title = "Golem provider  " + ("running" if g.running else f"NOT RUNNING ({g.service})")
    return (
        title,
        g.running,
        [
            ("node name", g.node_name, False),
            ("identity", g.identity, False),
            ("version", g.version, False),
            ("subnet", g.subnet, False),
            ("offers", offers, g.offers == 0),
            ("health", health, bool(g.health)),
            ("payment driver", "; ".join(g.driver_issues) or None, bool(g.driver_issues)),
            ("VM", g.vm, g.vm not in (None, "valid")),
            ("wallet", g.wallet, False),
            ("network", g.network, False),
            ("amount", amount, False),
            ("pending", pending, False),
            ("tasks, last hour", g.tasks_last_hour, False),
            ("in progress", g.tasks_running, False),
            ("tasks in all", g.tasks_total, False),
        ],
    )
