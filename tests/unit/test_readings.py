"""Each source's data is read once, where the source makes its observation: the SSH probe's
line, a metrics source's reading (Prometheus, Kubernetes, a stack's endpoint), a collector's
chain and services, a lost node's words, a recording's line. Data of the wrong shape is a
ReadingError there, typed; never another exception, and never a dict in the tracker."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.monitor.observe import Kind, Observation
from console.core.monitor.readings import Reading, ReadingError, read
from console.core.state import Gpu

GOOD_PROBE = {
    "t": 99.5,
    "gpus": [{"index": 0, "name": "H100", "util": 70, "temp_c": 60, "mem_used_mib": 1}],
    "gpu_source": "nvml",
    "containers": [{"name": "api", "image": "api:1", "state": "running"}],
    "system": {"hostname": "n1", "disks": [{"path": "/", "total_gb": 1.0}]},
    "xids": [{"t": 99.0, "gpu": 0, "xid": 79}],
}
MALFORMED = {
    Kind.PROBE: [
        {"gpus": "not a list"},
        {"gpus": [1, 2]},
        {"containers": 7},
        {"containers": ["a"]},
        {"containers": [{"name": "a", "restarts": "x"}]},
        {"system": ["x"]},
        {"system": {"disks": [3]}},
        {"xids": [{"xid": "seventy-nine"}]},  # a line from before the accelerator seam
        {"events": [{"code": "seventy-nine"}]},
        {"system": {"disks": "abc"}},
    ],
    Kind.METRICS: [
        {"signals": ["gpus"], "gpus": {"0": 1}},
        {"signals": ["kube"], "kube": {"nope": 1}},
        {"signals": ["events"], "events": [None]},
        {"signals": ["system"], "system": "up"},
    ],
    Kind.COLLECTED: [
        {"chain": {"x": 1}},
        {"services": [{"name": "a"}]},
        {"services": 5},
    ],
}


def test_a_good_probe_line_is_read_into_typed_values():
    got = read(Kind.PROBE, GOOD_PROBE)
    assert isinstance(got, Reading) and got.taken == 99.5
    assert isinstance(got.gpus[0], Gpu) and got.gpus[0].util == 70
    assert got.containers[0].name == "api" and got.system.hostname == "n1"
    # a line from before the accelerator seam: its events and devices are NVIDIA's
    assert got.events == ((99.0, 0, 79, "nvidia"),) and got.gpus[0].vendor == "nvidia"


def test_each_device_and_event_keeps_its_vendor():
    line = {
        "t": 5.0,
        "gpus": [{"index": 0, "vendor": "nvidia"}, {"index": 0, "vendor": "nvidia", "lost": True}],
        "events": [{"t": 4.0, "gpu": 0, "code": 48, "vendor": "nvidia"}],
    }
    got = read(Kind.PROBE, line)
    assert [g.vendor for g in got.gpus] == ["nvidia", "nvidia"]
    assert got.events == ((4.0, 0, 48, "nvidia"),)


@pytest.mark.parametrize(
    ("kind", "data"), [(kind, data) for kind, cases in MALFORMED.items() for data in cases]
)
def test_each_readers_malformed_input_is_a_typed_error(kind, data):
    with pytest.raises(ReadingError):
        Observation("n1", 100.0, "replay", kind, data)


def test_data_that_is_no_object_or_of_no_kind_is_a_typed_error():
    for kind, data in [(Kind.PROBE, []), (Kind.METRICS, "x"), ("sideways", {})]:
        with pytest.raises(ReadingError):
            read(kind, data)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
FIELDS = [
    "t",
    "gpus",
    "containers",
    "system",
    "xids",
    "events",
    "golem",
    "signals",
    "kube",
    "chain",
    "services",
    "error",
    "taken",
    "interval",
    "found",
]


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(list(Kind)),
    data=st.dictionaries(st.sampled_from(FIELDS), JSONISH, max_size=6),
)
def test_any_data_of_the_right_general_shape_is_read_or_refused_in_words(kind, data):
    if kind == Kind.METRICS:
        data = {**data, "signals": ["gpus", "events", "containers", "system", "kube"]}
    try:
        got = read(kind, json.loads(json.dumps(data)))
    except ReadingError as exc:
        assert str(exc)
    else:
        assert isinstance(got, Reading)
