"""What a source read of one node, parsed and made printable once, at the source's edge:
an Observation reads its data into a Reading when the source makes it (SSH's probe line,
Prometheus', Kubernetes' and a stack's metrics, a collector's chain, a recording's line),
so the tracker merges typed values and parses nothing. Data that cannot be read is a
ReadingError there, in the source, never an exception in the tracker.

The data stays beside its Reading, as the source gave it: a recording keeps that, and a
replay reads it again through the same readers, so old recordings stay readable."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from console.core.monitor import parse
from console.core.stacks import STACKS
from console.core.state import Chain, Container, Event, Gpu, Kube, Service, System
from console.core.text import printable, printable_tree

PROBE_SIGNALS = frozenset({"gpus", "events", "containers", "system"})  # a probe line's
METRICS_SIGNALS = PROBE_SIGNALS | {"kube"}
COLLECTED_FIELDS = ("chain", "chain_at", "chain_error", "services")


class ReadingError(ValueError):
    """A source's data that cannot be read (a damaged recording's line, a wrong shape)."""


@dataclass(frozen=True)
class Found:
    """Where a node a source found (one the profile does not list) belongs."""

    cluster: str
    role: str
    gpus: int | None


@dataclass(frozen=True)
class Reading:
    """The typed values of one observation; which of them it carries is `signals` (a
    probe's or a metrics source's) or the kind's own fields."""

    signals: frozenset[str] = frozenset()
    taken: float | None = None  # when the values were taken (the probe's or scrape's time)
    interval: float | None = None  # how often the source takes them, where it says
    gpus: tuple[Gpu, ...] = ()
    gpu_source: str | None = None
    gpu_error: str | None = None
    events: tuple[Event, ...] = ()
    containers: tuple[Container, ...] = ()
    container_error: str | None = None
    pods: bool = False  # the containers are Kubernetes pods'
    system: System | None = None
    kube: Kube | None = None
    provider: dict[str, Any] = field(default_factory=dict)  # its stack's NodeStatus fields
    found: Found | None = None  # a node a source found: where it belongs
    collected: dict[str, Any] = field(default_factory=dict)  # chain, services (COLLECTED)
    error: str | None = None  # UNREACHABLE, SILENT: why
    host_key_changed: bool = False
    down: bool = False  # SILENT: the source says the node is down, not only silent


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return printable(str(value)) if value is not None else None


def probe(data: dict[str, Any]) -> Reading:
    """A probe line (console/core/probe.py's JSON), as the node printed it."""
    line = printable_tree(data)  # node text never drives the terminal
    provider: dict[str, Any] = {}
    for stack in STACKS.values():  # a stack's own reading, from its probe part
        sent = line.get(stack.probe_key) if stack.probe_key else None
        if stack.read_probe is not None and isinstance(sent, dict):
            provider |= stack.read_probe(sent)
    return Reading(
        signals=PROBE_SIGNALS,
        taken=_number(line.get("t")),
        gpus=parse.gpus(line),
        gpu_source=_text(line.get("gpu_source")),
        gpu_error=_text(line.get("gpu_error")),
        events=parse.events(line),
        containers=parse.containers(line),
        container_error=_text(line.get("container_error")),
        system=parse.system(line),
        provider=provider,
    )


def metrics(data: dict[str, Any]) -> Reading:
    """A metrics source's reading of some signals: probe-shaped values of those it names."""
    line = printable_tree(data)
    signals = frozenset(s for s in line.get("signals") or () if s in METRICS_SIGNALS)
    kube = None
    if "kube" in signals and isinstance(line.get("kube"), dict):
        try:
            kube = Kube(**line["kube"])
            kube = replace(kube, unhealthy=tuple(int(n) for n in kube.unhealthy))
        except TypeError as exc:
            raise ReadingError(f"kube: {exc}") from None
    found = line.get("found")
    if isinstance(found, dict) and isinstance(found.get("role"), str):
        gpus = found.get("gpus")
        found = Found(
            str(found.get("cluster")), found["role"], gpus if isinstance(gpus, int) else None
        )
    else:
        found = None
    return Reading(
        signals=signals,
        found=found,
        taken=_number(line.get("taken")),
        interval=_number(line.get("interval")),
        gpus=parse.gpus(line) if "gpus" in signals else (),
        gpu_source=_text(line.get("gpu_source")),
        gpu_error=_text(line.get("gpu_error")),
        events=parse.events(line) if "events" in signals else (),
        containers=parse.containers(line) if "containers" in signals else (),
        container_error=_text(line.get("container_error")),
        pods=bool(line.get("pods")),
        system=parse.system(line) if "system" in signals else None,
        kube=kube,
    )


def collected(data: dict[str, Any]) -> Reading:
    """A collector's chain and services, as NodeStatus fields (rebuilt from a recording's
    dicts): only these fields, every string printable."""
    out = {k: printable_tree(v) for k, v in data.items() if k in COLLECTED_FIELDS}
    try:
        chain = out.get("chain")
        if isinstance(chain, dict):
            chain = dict(chain)
            chain["ml_nodes"] = tuple(tuple(m) for m in chain.get("ml_nodes") or ())
            chain["setup_failed"] = tuple(chain.get("setup_failed") or ())
            out["chain"] = Chain(**chain)
        if "services" in out:
            out["services"] = tuple(
                s if isinstance(s, Service) else Service(**s) for s in out["services"]
            )
    except (TypeError, ValueError) as exc:
        raise ReadingError(f"collected: {exc}") from None
    return Reading(collected=out)


def lost(data: dict[str, Any], default: str) -> Reading:
    """A source that cannot read the node (UNREACHABLE, SILENT): why, in words."""
    return Reading(
        error=printable(str(data.get("error") or default)),
        host_key_changed=bool(data.get("host_key_changed")),
        down=bool(data.get("down")),
    )


def read(kind: str, data: Any) -> Reading:
    """The Reading of one observation's data; ReadingError where it cannot be read."""
    if not isinstance(data, dict):
        raise ReadingError(f"{kind}: data is {type(data).__name__}, not an object")
    try:
        if kind == "probe":
            return probe(data)
        if kind == "metrics":
            return metrics(data)
        if kind == "collected":
            return collected(data)
        if kind in ("unreachable", "silent"):
            return lost(data, kind)
    except ReadingError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ReadingError(f"{kind}: {type(exc).__name__}: {exc}") from None
    raise ReadingError(f"no such kind of observation: {kind!r}")
