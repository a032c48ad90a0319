"""Reading a fleet's accelerators from Prometheus: each vendor's exporter series (the
vendors' adapters name them and their labels, console/core/accelerators/), a handful of
PromQL queries per refresh for the whole fleet (reference/operations.md §6).

One instant query per reading and exporter, aggregated down to the labels that matter
(`max by (node, cluster, device)`), so that 3,000 nodes of 8 GPUs come back as a few MB
rather than every series with all its labels; one query for when each node was last
scraped (`timestamp()`: the age of its values, not the age of the query); one for
`up == 0`, the targets whose exporter does not answer; and, with the names, which
exporters this Prometheus holds at all (only theirs are asked each refresh). The result is
plain data: the monitor (console/core/monitor/sources.py) turns it into observations.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass, field

import httpx

from console.core.accelerators import ACCELERATORS
from console.core.accelerators.base import Accelerator, ExporterSeries
from console.core.profile.schema import PrometheusSource
from console.core.sources.events import EventWatch
from console.core.sources.promtext import label_int
from console.core.text import printable

EXPORTING = tuple(a for a in ACCELERATORS.values() if a.exporter is not None)
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
ANSWER_S = 10.0  # the whole of one answer: a trickled one is a source that does not answer
MAX_BODY = 64 << 20
INFO_EVERY = 6  # the devices' names, UUIDs and driver, and the exporters: every this many
PORT = re.compile(r":\d+$")  # an `instance` label's port: not part of the host's name
FLAGS = ("rows_pending",)  # readings that say yes or no


def _number(value: object) -> float | None:
    """A sample's value as Prometheus writes it (a string: "61", "NaN", "+Inf")."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class SourceError(Exception):
    """The source does not answer, or not as Prometheus does: one sentence."""


@dataclass
class NodeMetrics:
    cluster_label: str | None  # the value of the source's cluster label, if it has one
    data: dict  # probe-shaped: "gpus", "events", "driver", "gpu_source"
    taken: float  # when Prometheus last scraped the node's exporter


@dataclass
class Reading:
    nodes: dict[str, NodeMetrics] = field(default_factory=dict)
    silent: dict[str, str] = field(default_factory=dict)  # node -> why (its target is down)
    unnamed: int = 0  # series whose node label the pattern does not match


class PrometheusReader:
    def __init__(self, source: PrometheusSource, token: str | None = None) -> None:
        self.source = source
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=source.url, headers=headers, timeout=TIMEOUT)
        self.pattern = re.compile(source.node_pattern) if source.node_pattern else None
        self.events = {a.name: EventWatch(a.name) for a in EXPORTING}
        self._present: tuple[Accelerator, ...] = EXPORTING  # until the first answer says
        self._instances: dict[str, str] = {}  # target (instance) -> node, as last seen
        self._reads = 0
        self._info: dict[str, list[dict]] = {}  # each exporter's last answer of "info"

    def close(self) -> None:
        self.client.close()

    def _each(self, promqls: list[str]) -> list[list[dict] | BaseException]:
        """Every query at once, on daemon threads: one that a silent server holds must not
        keep fleetdeck from exiting (an executor's threads are joined at exit)."""
        answers: list[list[dict] | BaseException] = [SourceError("no answer")] * len(promqls)

        def one(i: int, promql: str) -> None:
            try:
                answers[i] = self.query(promql)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader's thread
                answers[i] = exc

        threads = [
            threading.Thread(target=one, args=(i, q), daemon=True, name=f"prometheus-{i}")
            for i, q in enumerate(promqls)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return answers

    # -- the queries
    def node_label(self, e: ExporterSeries) -> str:
        return self.source.node_label or e.node_label

    @staticmethod
    def device_label(e: ExporterSeries) -> str:
        """The label that tells one device from another: its index, else its UUID."""
        return e.device_label or e.info_labels.get("uuid", "")

    def _by(self, e: ExporterSeries, *extra: str) -> str:
        labels = [self.node_label(e), self.source.cluster_label, *extra]
        return ", ".join(dict.fromkeys(lab for lab in labels if lab))

    def _sel(self, names: tuple[str, ...] | list[str], more: str = "") -> str:
        matchers = [f'__name__=~"{"|".join(names)}"', *[more] * bool(more)]
        return "{" + ", ".join(matchers + [self.source.selector] * bool(self.source.selector)) + "}"

    def queries(self) -> dict[str, str]:
        """Each query of one refresh, by what it reads ("<vendor>:<reading>")."""
        every = [n for a in EXPORTING for n in a.exporter.seen]  # type: ignore[union-attr]
        q = {"present": f"count by (__name__) ({self._sel(every)})"}
        for a in self._present:
            e = a.exporter
            assert e is not None
            device = self.device_label(e)
            keys: dict[str, list[str]] = {}
            for metric, (key, _) in e.fields.items():
                keys.setdefault(key, []).append(metric)
            for key, names in keys.items():
                chosen = self._sel(names, e.matchers.get(key, ""))
                q[f"{a.name}:{key}"] = f"max by ({self._by(e, device)}) ({chosen})"
            if e.last_event:
                q[f"{a.name}:event"] = (
                    f"max by ({self._by(e, device)}) ({self._sel([e.last_event])})"
                )
            info = [device, *e.info_labels.values(), e.driver_label]
            q[f"{a.name}:info"] = f"count by ({self._by(e, *info)}) ({self._sel(e.seen)})"
            q[f"{a.name}:seen"] = (
                f"max by ({self._by(e, 'instance')}) (timestamp({self._sel(e.seen)}))"
            )
        q["down"] = f"up{{{self.source.selector}}} == 0"
        return q

    def query(self, promql: str) -> list[dict]:
        status, body = self._get("/api/v1/query", {"query": promql})
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            text = body[:160].decode("utf-8", "replace")
            said = doc.get("error") if isinstance(doc, dict) else text
            raise SourceError(f"{self.source.url}: HTTP {status}: {printable(str(said))}")
        data = doc.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            return []
        result = data.get("result") or []
        # each series an object with a metric (labels) and a [time, "value"] pair: what is
        # not is left out, as a series that cannot be read
        return [
            r
            for r in (result if isinstance(result, list) else [])
            if isinstance(r, dict)
            and isinstance(r.get("metric"), dict)
            and all(isinstance(v, str) for v in r["metric"].values())
            and isinstance(r.get("value"), list)
            and len(r["value"]) == 2
            and _number(r["value"][1]) is not None
        ]

    def _get(self, path: str, params: dict) -> tuple[int, bytes]:
        """The answer's status and body, whole within ANSWER_S and MAX_BODY: httpx's timeout
        is between two reads, so a server that trickles its answer (or never ends it) would
        keep the source 'fine' forever; past the deadline it is a source that does not answer."""
        deadline = time.monotonic() + ANSWER_S
        try:
            with self.client.stream("GET", path, params=params) as r:
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise SourceError(
                            f"{self.source.url}: an answer over {MAX_BODY >> 20} MiB: "
                            "narrow the source's selector"
                        )
                    if time.monotonic() > deadline:
                        raise SourceError(
                            f"{self.source.url}: no whole answer within {ANSWER_S:.0f} s"
                        )
                return r.status_code, bytes(body)
        except httpx.HTTPError as exc:
            raise SourceError(f"{self.source.url}: {type(exc).__name__}: {exc}") from exc

    # -- one refresh
    def read(self) -> Reading:
        queries = self.queries()
        due = self._reads % INFO_EVERY == 0  # names, UUIDs and exporters change seldom
        if not due:
            for key in [k for k in queries if k == "present" or k.endswith(":info")]:
                queries.pop(key)
        said = self._each(list(queries.values()))
        for answer in said:
            if isinstance(answer, BaseException):
                raise answer
        answers: dict[str, list[dict]] = dict(zip(queries, said, strict=True))  # type: ignore[arg-type]
        self._reads += 1
        for a in self._present:
            if f"{a.name}:info" in answers:
                self._info[a.name] = answers[f"{a.name}:info"]
            answers[f"{a.name}:info"] = self._info.get(a.name, [])
        out = Reading()
        # node -> vendor -> device (its index, or its UUID where the exporter has none)
        devices: dict[str, dict[str, dict[object, dict]]] = {}
        placed: dict[str, str | None] = {}
        sources: dict[str, list[str]] = {}

        def node_of(labels: dict, e: ExporterSeries) -> str | None:
            label = self.node_label(e)
            raw = labels.get(label, "")
            if label == "instance" and not self.pattern:
                raw = PORT.sub("", raw)  # host:port names the host
            name = self._name(raw)
            if name is None:
                out.unnamed += 1
                return None
            placed.setdefault(
                name, labels.get(self.source.cluster_label) if self.source.cluster_label else None
            )
            return name

        for a in self._present:
            e = a.exporter
            assert e is not None
            for series in answers[f"{a.name}:seen"]:
                labels, (_, value) = series["metric"], series["value"]
                name = node_of(labels, e)
                if name is None:
                    continue
                if labels.get("instance"):
                    self._instances[labels["instance"]] = name
                taken = float(value)
                if not math.isfinite(taken):  # a scrape time of ±Inf: not a time
                    continue
                old = out.nodes.get(name)
                if old is None or taken > old.taken:
                    out.nodes[name] = NodeMetrics(placed[name], {}, taken)
                sources.setdefault(name, [])
                if e.name not in sources[name]:
                    sources[name].append(e.name)
        for a in self._present:
            self._read_devices(a, answers, out, devices, node_of)
        for name, by_vendor in devices.items():
            listed = []
            for vendor, by_device in by_vendor.items():
                listed += self._listed(vendor, by_device)
            data = out.nodes[name].data
            data["gpus"] = listed
            data.setdefault("events", [])
            data["gpu_source"] = (
                f"{' + '.join(sources.get(name, []))} via prometheus {self.source.name!r}"
            )
        for name in out.nodes:
            for watch in self.events.values():
                watch.read(name)
        for series in answers["down"]:
            instance = series["metric"].get("instance", "")
            name = self._instances.get(instance)
            if name is not None and name not in out.nodes:
                out.silent[name] = (
                    f"its exporter {instance} does not answer Prometheus "
                    f"{self.source.name!r} (up == 0)"
                )
        if "present" in answers:
            seen = {s["metric"].get("__name__") for s in answers["present"]}
            self._present = tuple(a for a in EXPORTING if seen & set(a.exporter.seen))  # type: ignore[union-attr]
        return out

    def _read_devices(self, a: Accelerator, answers, out: Reading, devices, node_of) -> None:
        """One vendor's readings, info and events into `devices` (node -> vendor -> device)."""
        e = a.exporter
        assert e is not None
        device = self.device_label(e)
        keys = dict.fromkeys(key for key, _ in e.fields.values())
        factor = {key: f for key, f in e.fields.values()}
        for what in [*keys, "info", "event"]:
            for series in answers.get(f"{a.name}:{what}", []):
                labels = series["metric"]
                name = node_of(labels, e)
                if name is None or name not in out.nodes:
                    continue
                value = float(series["value"][1])
                if math.isinf(value) and what != "info":
                    continue  # ±Inf: this series says nothing (the others still count)
                raw = labels.get(device)
                which = label_int(raw) if e.device_label else raw
                if which is None and not e.device_label:
                    continue  # no UUID: not one device
                g = devices.setdefault(name, {}).setdefault(a.name, {}).setdefault(which, {})
                if what == "info":
                    for key, label in e.info_labels.items():
                        if labels.get(label):
                            g[key] = labels[label]
                    driver = labels.get(e.driver_label) if e.driver_label else None
                    if driver:
                        out.nodes[name].data["driver"] = driver
                elif what == "event":
                    index = which if isinstance(which, int) else None
                    events = self.events[a.name].last(name, index, value, out.nodes[name].taken)
                    out.nodes[name].data.setdefault("events", []).extend(events)
                    g["event"] = True
                elif value == value:  # NaN: the field is not supported
                    value *= factor[what]
                    if value > e.sane.get(what, math.inf):
                        continue  # a broken sensor's number, not a reading
                    if what in FLAGS:
                        g[what] = value > 0
                    else:
                        g[what] = (
                            round(value, 1) if what in ("power_w", "power_limit_w") else int(value)
                        )

    @staticmethod
    def _listed(vendor: str, by_device: dict[object, dict]) -> list[dict]:
        """One vendor's devices of a node, in order, as the probe lists them."""
        listed = []
        indexed = all(isinstance(k, int) or k is None for k in by_device)
        if indexed:
            order = sorted(by_device.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        else:  # told apart by UUID alone: numbered in UUID order
            order = [(i, g) for i, (_, g) in enumerate(sorted(by_device.items(), key=str))]
        for index, g in order:
            g = {"index": index, **g, "vendor": vendor}
            event = g.pop("event", False)
            if event and not set(g) - {"index", "vendor", "uuid", "name", "serial"}:
                # its last event alone: the exporter reads nothing else of it (fell off the bus)
                g.update(lost=True, error="no value but its last event")
            free = g.pop("mem_free_mib", None)
            if free is not None and g.get("mem_used_mib") is not None:
                g["mem_total_mib"] = g["mem_used_mib"] + free
            listed.append(g)
        return listed

    def _name(self, raw: str) -> str | None:
        """The node a label value names; None where it names none (or one no terminal
        should be shown: control characters)."""
        if not raw:
            return None
        if self.pattern is not None:
            m = self.pattern.search(raw)
            raw = (m.group(1) if m.groups() else m.group(0)) if m else ""
        return raw if raw and printable(raw) == raw else None
