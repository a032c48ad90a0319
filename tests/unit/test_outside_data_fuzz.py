"""Every reader of data from outside (a recording, Kubernetes' and Prometheus' answers, a
stack's metrics endpoint, setup answers, a journal file) fed with documents of the right
general shape whose parts are replaced by anything JSON or TOML can hold, and with their
text cut short: each one ends in its named error or skips what it cannot read, and never
raises anything else. Sizes are bounded (hypothesis draws small documents; the readers
refuse what is past their own bounds)."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.app.setup.answers import AnswersError, load_answers
from console.app.setup.writer import profile_text
from console.core.journal import Journal, JournalError
from console.core.monitor.recording import RecordingError, Replay
from console.core.profile import ProfileError
from console.core.profile.schema import PrometheusSource
from console.core.sources.kubernetes import pod_containers, pools_of
from console.core.sources.prometheus import PrometheusReader, SourceError
from console.core.stacks.gonka_metrics import read_mlnode_metrics
from tests.harness.kubeapi import gke_node, gke_pod

REPO = Path(__file__).resolve().parents[2]
PROFILE = (REPO / "tests" / "data" / "sim-small.toml").read_text()
ANSWERS = tomlkit.parse((REPO / "profiles" / "setup" / "first-fleet-answers.toml").read_text())
NOW = 1_796_000_000.0
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
anything = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw, document):
    """`document` (JSON-shaped) with a few of its parts, at any depth, replaced."""
    doc = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 4))):
        parent, key, node = None, None, doc  # a path down the document; its end replaced
        while isinstance(node, dict | list) and len(node) and draw(st.booleans()):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            parent, key = node, draw(st.sampled_from(keys))
            node = parent[key]
        if parent is not None:
            parent[key] = draw(anything)
        elif draw(st.integers(0, 9)) == 0:
            doc = draw(anything)  # now and then not even the shape
    return doc


def cut(text: str, data) -> str:
    return text[: data.draw(st.integers(0, len(text)))] if data.draw(st.booleans()) else text


OBSERVATION = {
    "node": "ml1",
    "at": NOW + 1,
    "source": "ssh",
    "kind": "collected",
    "data": {"services": [{"name": "s", "up": True}], "chain": {"height": 5}},
}
HEADER = {
    "fleetdeck_recording": 1,
    "fleet": "x",
    "interval": 2.0,
    "started": NOW,
    "profile": PROFILE,
}


@FUZZ
@given(data=st.data())
def test_a_recording(data):
    header = data.draw(mutated(HEADER))
    lines = [json.dumps(header)] + [
        json.dumps(data.draw(mutated(OBSERVATION))) for _ in range(data.draw(st.integers(0, 5)))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.jsonl"
        path.write_text(cut("\n".join(lines) + "\n", data))
        try:
            replay = Replay(path, speed=1000)
        except RecordingError:
            return
        replay.state_at(replay.end)  # every observation taken or skipped, none raising


@FUZZ
@given(data=st.data())
def test_kubernetes_nodes_and_pods(data):
    items = [data.draw(mutated(gke_node("n1", "a3", 8, "nvidia-h100-80gb"))) for _ in range(2)]
    pools_of([i for i in items if isinstance(i, dict)], "cloud.google.com/gke-nodepool")
    pod = data.draw(mutated(gke_pod("p1", "n1")))
    if isinstance(pod, dict):
        pod_containers(pod)


def vector(series: list) -> dict:
    return {"status": "success", "data": {"resultType": "vector", "result": series}}


SERIES = {
    "metric": {"Hostname": "n1", "gpu": "0", "instance": "10.0.0.1:9400"},
    "value": [NOW, "61"],
}


@FUZZ
@given(data=st.data())
def test_a_prometheus_answer(data):
    reader = PrometheusReader(
        PrometheusSource(kind="prometheus", name="p", url="http://127.0.0.1:1")
    )
    answers = {  # drawn here: the reader asks from its own threads
        promql: cut(json.dumps(data.draw(mutated(vector([SERIES, SERIES])))), data).encode()
        for promql in reader.queries().values()
    }

    def get(path, params):
        return 200, answers[params["query"]]

    reader._get = get
    try:
        reader.read()
    except SourceError:
        pass
    finally:
        reader.close()


METRICS = (
    '# TYPE mlnode_up gauge\nmlnode_up{node_id="ml1"} 1\n'
    'mlnode_gpu_temp_core_celsius{node_id="ml1",gpu_index="0"} 61\n'
    'mlnode_gpu_xid_events_total{node_id="ml1",gpu_index="0",xid="79"} 2\n'
)


@FUZZ
@given(data=st.data(), noise=st.text(max_size=40))
def test_a_stack_metrics_endpoint(data, noise):
    text = cut(METRICS, data)
    at = data.draw(st.integers(0, len(text)))
    read_mlnode_metrics(text[:at] + noise + text[at:])


@FUZZ
@given(data=st.data())
def test_setup_answers(data):
    doc = data.draw(mutated(json.loads(json.dumps(ANSWERS.unwrap()))))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "answers.toml"
        try:
            text = tomlkit.dumps(doc if isinstance(doc, dict) else {"x": doc})
        except (TypeError, ValueError):  # not a TOML document at all (a null, a NaN key)
            text = json.dumps(doc)
        path.write_text(cut(text, data))
        try:
            answers = load_answers(path)
        except AnswersError:
            return
        with contextlib.suppress(ProfileError):  # named: setup says it as the answers' problem
            profile_text(answers)


@FUZZ
@given(data=st.data())
def test_a_journal_file(data):
    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "good.sqlite"
        journal = Journal(good)
        journal.start_run("deploy", "f", "p", {})
        journal.close()
        raw = bytearray(good.read_bytes())
        for _ in range(data.draw(st.integers(1, 6))):
            at = data.draw(st.integers(0, len(raw) - 1))
            raw[at] = data.draw(st.integers(0, 255))
        path = Path(tmp) / "journal.sqlite"
        path.write_bytes(cut(raw.decode("latin-1"), data).encode("latin-1"))
        try:
            read = Journal(path)
        except JournalError:
            return
        try:
            read.runs("f", "deploy")
        except JournalError:
            pass  # a page damaged past the header: found on the read, and named
        finally:
            read.close()
