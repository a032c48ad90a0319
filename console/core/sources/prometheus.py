"""Reading a fleet's GPUs from Prometheus: dcgm-exporter's series, a handful of PromQL
queries per refresh for the whole fleet (reference/operations.md §6).

One instant query per signal, aggregated down to the labels that matter (`max by (node,
cluster, gpu)`), so that 3,000 nodes of 8 GPUs come back as a few MB rather than every
series with all its labels; one query for when each node was last scraped
(`timestamp()`: the age of its values, not the age of the query); one for `up == 0`, the
targets whose exporter does not answer. The result is plain data: the monitor
(console/core/monitor/sources.py) turns it into observations.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass, field

import httpx

from console.core.accelerators.nvidia import NVIDIA
from console.core.profile.schema import PrometheusSource
from console.core.sources.events import EventWatch
from console.core.sources.promtext import label_int
from console.core.text import printable

# dcgm-exporter field -> the probe's GPU key (reference/real/prometheus/*.prom)
GPU_FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": "util",
    "DCGM_FI_DEV_FB_USED": "mem_used_mib",  # MiB, as NVML's
    "DCGM_FI_DEV_FB_FREE": "mem_free_mib",
    "DCGM_FI_DEV_GPU_TEMP": "temp_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": "ecc_uncorrected",  # volatile double-bit errors
}
XID_FIELD = "DCGM_FI_DEV_XID_ERRORS"  # a gauge: the last Xid the GPU raised
INFO_LABELS = ("UUID", "modelName", "DCGM_FI_DRIVER_VERSION")
SEEN_FIELD = "DCGM_FI_DEV_GPU_TEMP"  # every dcgm-exporter serves it: its scrape time is the node's
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
ANSWER_S = 10.0  # the whole of one answer: a trickled one is a source that does not answer
MAX_BODY = 64 << 20
INFO_EVERY = 6  # the GPUs' names, UUIDs and driver: read again every this many refreshes


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
    data: dict  # probe-shaped: "gpus", "events", "driver"
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
        self.events = EventWatch(NVIDIA.name)  # dcgm-exporter's: NVIDIA's GPUs
        self._instances: dict[str, str] = {}  # target (instance) -> node, as last seen
        self._reads = 0
        self._info: list[dict] = []  # the last answer of the "info" query

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
    def _by(self, *extra: str) -> str:
        labels = [self.source.node_label, self.source.cluster_label, *extra]
        return ", ".join(dict.fromkeys(lab for lab in labels if lab))

    def _sel(self, metric: str) -> str:
        return f"{metric}{{{self.source.selector}}}"

    def queries(self) -> dict[str, str]:
        """Each query of one refresh, by what it reads."""
        q = {
            metric: f"max by ({self._by('gpu')}) ({self._sel(metric)})"
            for metric in [*GPU_FIELDS, XID_FIELD]
        }
        q["info"] = f"count by ({self._by('gpu', *INFO_LABELS)}) ({self._sel(SEEN_FIELD)})"
        q["seen"] = f"max by ({self._by('instance')}) (timestamp({self._sel(SEEN_FIELD)}))"
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
        due = self._reads % INFO_EVERY == 0  # names and UUIDs do not change between reads
        if not due:
            queries.pop("info")
        said = self._each(list(queries.values()))
        for answer in said:
            if isinstance(answer, BaseException):
                raise answer
        answers = dict(zip(queries, said, strict=True))
        if due:
            self._info = answers["info"]
        answers["info"] = self._info
        self._reads += 1
        out = Reading()
        gpus: dict[str, dict[int | None, dict]] = {}
        placed: dict[str, str | None] = {}

        def node_of(labels: dict) -> str | None:
            name = self._name(labels.get(self.source.node_label, ""))
            if name is None:
                out.unnamed += 1
                return None
            if self.source.cluster_label:
                placed.setdefault(name, labels.get(self.source.cluster_label))
            else:
                placed.setdefault(name, None)
            return name

        for series in answers["seen"]:
            labels, (_, value) = series["metric"], series["value"]
            name = node_of(labels)
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
        for metric, key in [*GPU_FIELDS.items(), ("info", None), (XID_FIELD, None)]:
            for series in answers[metric]:
                labels = series["metric"]
                name = node_of(labels)
                if name is None or name not in out.nodes:
                    continue
                value = float(series["value"][1])
                if math.isinf(value) and metric != "info":
                    continue  # ±Inf: this series says nothing (the others still count)
                index = label_int(labels.get("gpu"))
                gpu = gpus.setdefault(name, {}).setdefault(index, {"index": index})
                if metric == "info":
                    gpu["uuid"], gpu["name"] = labels.get("UUID"), labels.get("modelName")
                    driver = labels.get("DCGM_FI_DRIVER_VERSION")
                    if driver:
                        out.nodes[name].data["driver"] = driver
                elif metric == XID_FIELD:
                    events = self.events.last(name, index, value, out.nodes[name].taken)
                    out.nodes[name].data.setdefault("events", []).extend(events)
                elif key is not None and value == value:  # NaN: the field is not supported
                    gpu[key] = round(value, 1) if key == "power_w" else int(value)
        for name, by_index in gpus.items():
            listed = []
            for _, g in sorted(by_index.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
                if len(g) == 1:  # its Xid alone: DCGM reads nothing else of it (Xid 79)
                    g.update(lost=True, error="no value but its last Xid")
                free = g.pop("mem_free_mib", None)
                if free is not None and g.get("mem_used_mib") is not None:
                    g["mem_total_mib"] = g["mem_used_mib"] + free
                listed.append(g | {"vendor": NVIDIA.name})
            data = out.nodes[name].data
            data["gpus"] = listed
            data.setdefault("events", [])
            data["gpu_source"] = f"dcgm-exporter via prometheus {self.source.name!r}"
        for name in out.nodes:
            self.events.read(name)
        for series in answers["down"]:
            instance = series["metric"].get("instance", "")
            name = self._instances.get(instance)
            if name is not None and name not in out.nodes:
                out.silent[name] = (
                    f"its exporter {instance} does not answer Prometheus "
                    f"{self.source.name!r} (up == 0)"
                )
        return out

    def _name(self, raw: str) -> str | None:
        """The node a label value names; None where it names none (or one no terminal
        should be shown: control characters)."""
        if not raw:
            return None
        if self.pattern is not None:
            m = self.pattern.search(raw)
            raw = (m.group(1) if m.groups() else m.group(0)) if m else ""
        return raw if raw and printable(raw) == raw else None
