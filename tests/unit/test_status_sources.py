"""Status sources beside SSH, without servers: the Prometheus text format, Xid counting,
the tracker's trust order, a source that stops answering, found nodes in a recording, and
a stack's metrics endpoint read over its public URL."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from console.core.monitor.observe import METRICS, PROBE, Observation
from console.core.monitor.sources import PrometheusPoller, StackMetricsPoller
from console.core.monitor.tracker import Tracker
from console.core.profile import ProfileError, loads
from console.core.sources.events import EventWatch
from console.core.sources.prometheus import SourceError
from console.core.sources.promtext import parse
from console.core.stacks.gonka_metrics import read_mlnode_metrics

PROFILE = (
    '[fleet]\nname = "f"\nstack = "vllm"\n'
    '[[sources]]\nname = "gke"\nkind = "prometheus"\nurl = "http://127.0.0.1:9"\n'
    "scrape_interval_s = 10\n"
    '[[clusters]]\nname = "a"\n'
    '[[clusters.nodes]]\nname = "n1"\nhost = "10.0.0.1"\nrole = "server"\nmodel = "m"\ngpus = 1\n'
    "[models.m]\n"
)


def gpu(temp: int) -> dict:
    return {"index": 0, "name": "H100", "util": 50, "temp_c": temp}


def metrics(node: str, at: float, temp: int, **extra) -> Observation:
    data = {"gpus": [gpu(temp)], "events": [], "signals": ["gpus", "events"], "taken": at}
    return Observation(node, at, "gke", METRICS, {**data, "interval": 10.0, **extra})


def probe(at: float, temp: int) -> Observation:
    line = {"t": at, "gpus": [gpu(temp)], "containers": [{"name": "vllm", "state": "running"}]}
    return Observation("n1", at, "ssh", PROBE, line)


def test_the_text_format_with_escapes_specials_and_a_bad_line():
    text = (
        "# HELP x y\n# TYPE x gauge\n"
        'x{a="1",b="say \\"hi\\"\\n",c="back\\\\slash"} 3.5\n'
        "y 7 1700000000000\n"
        'z{a="1"} NaN\nw +Inf\nbroken{a="1" 2\n'
    )
    samples, bad = parse(text)
    assert bad == 1
    x, y, z, w = samples
    assert x.labels == {"a": "1", "b": 'say "hi"\n', "c": "back\\slash"} and x.value == 3.5
    assert (y.name, y.labels, y.value) == ("y", {}, 7.0)
    assert z.value != z.value and w.value == float("inf")


def test_events_are_changes_and_rises_after_a_baseline():
    watch = EventWatch("nvidia")
    assert watch.last("n", 0, 79, 1.0) == []  # the gauge's Xid from before: a baseline
    watch.read("n")
    assert watch.last("n", 0, 79, 2.0) == []
    assert watch.last("n", 0, 48, 3.0) == [{"t": 3.0, "gpu": 0, "code": 48, "vendor": "nvidia"}]
    # a counter new to a node read before: its first Xid of that kind
    assert watch.total("n", 1, 13, 1, 4.0) == [{"t": 4.0, "gpu": 1, "code": 13, "vendor": "nvidia"}]
    assert watch.total("m", 1, 13, 4, 4.0) == []  # a node never read: its baseline
    watch.read("m")
    assert watch.total("n", 2, 79, 1, 5.0) == [{"t": 5.0, "gpu": 2, "code": 79, "vendor": "nvidia"}]
    assert watch.total("n", 2, 79, 0, 6.0) == []  # reset: no event
    assert watch.total("n", 2, 79, 1, 7.0) == [{"t": 7.0, "gpu": 2, "code": 79, "vendor": "nvidia"}]


def test_a_more_trusted_source_wins_while_fresh_and_each_value_keeps_its_source():
    fleet = loads(PROFILE, "f.toml").model
    assert fleet.trust() == ["gke", "ssh"]
    tracker = Tracker(fleet, 2.0, clock=lambda: 1000.0)
    tracker.observe(metrics("n1", 1000.0, 60))
    tracker.observe(probe(1001.0, 70))
    node = tracker.node("n1")
    assert node.gpus[0].temp_c == 60  # Prometheus first in trust, and fresh
    assert node.source_of("gpus") == ("gke", 1000.0)
    assert node.source_of("containers") == ("ssh", 1001.0) and node.containers[0].name == "vllm"
    tracker.observe(probe(1030.0, 71))  # gke's value is 30 s old: past two of its intervals
    node = tracker.node("n1")
    assert node.gpus[0].temp_c == 71 and node.source_of("gpus") == ("ssh", 1030.0)
    tracker.observe(metrics("n1", 1031.0, 62))
    assert tracker.node("n1").gpus[0].temp_c == 62  # back to the trusted one


def test_a_source_down_is_one_alert_and_its_nodes_are_stale_not_down():
    fleet = loads(PROFILE, "f.toml").model
    now = [1000.0]
    tracker = Tracker(fleet, 2.0, clock=lambda: now[0])
    found = {"cluster": "a", "role": "server", "gpus": 1}
    for i in range(5):
        tracker.observe(metrics(f"g{i}", 1000.0, 60, found=found))
    assert len(tracker.nodes()) == 6  # n1 (no values yet) and five found
    tracker.source_state("gke", "http://127.0.0.1:9: ConnectError: refused")
    now[0] = 1300.0  # five minutes on
    state = tracker.snapshot()
    [alert] = [a for a in state.alerts if a.severity == "critical" and a.node != "n1"]
    assert alert.kind == "source_down:gke"
    assert alert.summary.startswith("status source 'gke' does not answer: 5 nodes'")
    assert "ConnectError" in alert.evidence
    assert {state.condition(state.nodes[f"g{i}"]) for i in range(5)} == {"stale"}
    tracker.source_state("gke", None)
    assert not any(a.kind.startswith("source_down") for a in tracker.snapshot().alerts)


def test_a_found_nodes_reading_joins_it_as_a_recording_replays():
    fleet = loads(PROFILE, "f.toml").model
    tracker = Tracker(fleet, 2.0, clock=lambda: 1000.0)
    line = metrics("gke-pool-7", 1000.0, 60, found={"cluster": "a", "role": "server", "gpus": 8})
    replayed = Observation.from_json(line.to_json())
    tracker.observe(replayed)
    node = tracker.node("gke-pool-7")
    assert (node.cluster, node.role, node.expected_gpus) == ("a", "server", 8)
    lost = metrics("elsewhere", 1000.0, 60, found={"cluster": "nope", "role": "server"})
    tracker.observe(lost)
    assert "elsewhere" not in tracker.names()


MLNODE_TEXT = """# TYPE mlnode_up gauge
mlnode_up{node_id="ml1"} 1
mlnode_up{node_id="ml2"} 0
mlnode_gpu_temp_core_celsius{node_id="ml1",gpu_index="0"} 61
mlnode_gpu_temp_core_celsius{node_id="ml1",gpu_index="1"} 64
mlnode_gpu_power_draw_watts{node_id="ml1",gpu_index="0"} 412.25
mlnode_gpu_memory_used_bytes{node_id="ml1",gpu_index="0"} 75161927680
mlnode_gpu_ecc_dbe_total{node_id="ml1",gpu_index="1"} 2
mlnode_gpu_xid_events_total{node_id="ml1",gpu_index="1",xid="48"} 1
"""


def test_the_mlnode_metrics_text_read_per_ml_node():
    nodes = read_mlnode_metrics(MLNODE_TEXT)
    assert nodes["ml2"] == {"up": False, "event_totals": [], "gpus": []}
    ml1 = nodes["ml1"]
    assert ml1["up"] is True and ml1["event_totals"] == [[1, 48, 1.0]]
    assert ml1["gpus"] == [
        {"index": 0, "temp_c": 61, "power_w": 412.2, "mem_used_mib": 71680},
        {"index": 1, "temp_c": 64, "ecc_uncorrected": 2},
    ]


def test_a_stack_metrics_source_read_over_the_public_url():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = MLNODE_TEXT.encode() if self.path == "/v1/mlnodes/metrics" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        fleet = loads(
            '[fleet]\nname = "g"\nstack = "gonka"\n[models.m]\n'
            '[[sources]]\nname = "chain"\nkind = "gonka-metrics"\nvia = "public"\n'
            '[[sources]]\nname = "ssh"\nkind = "ssh"\nroles = ["network"]\n'
            f'[[clusters]]\nname = "c1"\n[clusters.settings]\npublic_url = "{url}"\n'
            '[[clusters.nodes]]\nname = "net"\nhost = "10.0.0.1"\nrole = "network"\n'
            '[[clusters.nodes]]\nname = "ml1"\nhost = "10.0.0.2"\nrole = "ml"\nmodel = "m"\n'
            '[[clusters.nodes]]\nname = "ml2"\nhost = "10.0.0.3"\nrole = "ml"\nmodel = "m"\n',
            "g.toml",
        ).model
        assert not fleet.probed_by_ssh(fleet.clusters[0], fleet.clusters[0].nodes[1])
        tracker = Tracker(fleet, 2.0)
        poller = StackMetricsPoller(fleet.sources[0], fleet, tracker, pool=None)
        poller.poll()
        ml1, ml2 = tracker.node("ml1"), tracker.node("ml2")
        assert [g.temp_c for g in ml1.gpus] == [61, 64] and ml1.reachable
        assert ml1.gpu_source == "net/v1/mlnodes/metrics"
        assert ml2.reported_down and "says it is down (up == 0)" in ml2.error
        poller.close()
    finally:
        server.shutdown()


def test_a_signal_may_trust_its_sources_in_its_own_order():
    text = PROFILE.replace("[models.m]\n", '[models.m]\n[trust]\ngpus = ["ssh"]\n')
    fleet = loads(text, "f.toml").model
    assert fleet.trust("gpus") == ["ssh", "gke"] and fleet.trust("events") == ["gke", "ssh"]
    tracker = Tracker(fleet, 2.0, clock=lambda: 1000.0)
    tracker.observe(probe(1000.0, 70))
    tracker.observe(metrics("n1", 1001.0, 60))
    node = tracker.node("n1")
    assert node.gpus[0].temp_c == 70 and node.source_of("gpus")[0] == "ssh"
    assert node.source_of("events")[0] == "gke"
    bad = PROFILE.replace("[models.m]\n", '[models.m]\n[trust]\ngpus = ["gmp"]\n')
    try:
        loads(bad, "f.toml")
    except ProfileError as exc:
        assert "trust.gpus[0]: 'gmp' is not a source of this profile" in str(exc)
    else:
        raise AssertionError("an unknown source in [trust] was taken")


def test_one_source_failing_while_another_reads_the_node_is_a_warning_not_down():
    fleet = loads(PROFILE, "f.toml").model
    now = [1000.0]
    tracker = Tracker(fleet, 2.0, clock=lambda: now[0])
    tracker.observe(metrics("n1", 1000.0, 60))
    tracker.observe(probe(1000.5, 61))
    ssh_down = {"error": "connection refused", "host_key_changed": False}
    tracker.observe(Observation("n1", 1001.0, "ssh", "unreachable", ssh_down))
    state = tracker.snapshot()
    node = state.nodes["n1"]
    assert node.reachable and state.condition(node) == "degraded"
    [alert] = [a for a in state.alerts if a.node == "n1"]
    assert (alert.kind, alert.severity, alert.evidence) == (
        "source_cannot_read",
        "warning",
        "connection refused",
    )
    tracker.observe(metrics("n1", 1002.0, 62))  # Prometheus does not take SSH's word back
    assert tracker.node("n1").error == "connection refused"
    tracker.observe(probe(1003.0, 63))  # SSH answers again
    assert tracker.node("n1").error is None
    # a node only Prometheus reads: its exporter gone is the node silent, then back
    tracker.observe(metrics("g1", 1003.0, 60, found={"cluster": "a", "role": "server"}))
    tracker.observe(Observation("g1", 1004.0, "gke", "silent", {"error": "up == 0"}))
    assert not tracker.node("g1").reachable
    tracker.observe(metrics("g1", 1005.0, 60))
    assert tracker.node("g1").reachable and tracker.node("g1").error is None


def test_each_source_says_when_it_last_answered_and_what_it_could_not_place():
    fleet = loads(PROFILE, "f.toml").model
    now = [1000.0]
    tracker = Tracker(fleet, 2.0, clock=lambda: now[0])
    tracker.source_state("gke", None, "2 nodes it names are in no cluster (x-1, x-2…)")
    now[0] = 1003.0
    state = tracker.snapshot()
    [health] = state.sources
    assert (health.name, health.ok, health.read_at) == ("gke", True, 1000.0)
    [note] = [a for a in state.alerts if a.kind == "source_note:gke"]
    assert note.severity == "info" and "2 nodes it names are in no cluster" in note.summary
    assert state.to_json()["sources"][0]["read_at"] == 1000.0
    tracker.source_state("gke", "refused")
    state = tracker.snapshot()
    assert state.sources[0].ok is False and state.sources[0].read_at == 1000.0
    assert not any(a.kind.startswith("source_note") for a in state.alerts)


def test_what_a_source_says_reaches_the_screen_printable():
    fleet = loads(PROFILE, "f.toml").model
    tracker = Tracker(fleet, 2.0, clock=lambda: 1000.0)
    tracker.source_state("gke", "HTTP 500: \x1b[2J[bold]x[/]")
    [down] = [a for a in tracker.snapshot().alerts if a.kind == "source_down:gke"]
    assert down.evidence == "HTTP 500: \\x1b[2J[bold]x[/]"  # shown as text, never obeyed
    tracker.source_state("gke", None, "1 nodes it names are in no cluster (\x07x…)")
    [note] = [a for a in tracker.snapshot().alerts if a.kind == "source_note:gke"]
    assert "\\x07x" in note.summary and "\x07" not in note.summary


def test_a_node_name_with_control_characters_never_becomes_a_row():
    fleet = loads(PROFILE, "f.toml").model
    tracker = Tracker(fleet, 2.0, clock=lambda: 1000.0)
    tracker.observe(metrics("evil\x1b[2J", 1000.0, 60, found={"cluster": "a", "role": "server"}))
    assert tracker.names() == {"n1"}


def test_a_prometheus_token_missing_is_the_sources_error_not_a_crash(monkeypatch):
    monkeypatch.delenv("FLEETDECK_TEST_PROM_TOKEN", raising=False)
    token = 'token = "env:FLEETDECK_TEST_PROM_TOKEN"\n'
    text = PROFILE.replace("scrape_interval_s = 10\n", "scrape_interval_s = 10\n" + token)
    fleet = loads(text, "f.toml").model
    tracker = Tracker(fleet, 2.0, clock=lambda: 1000.0)
    poller = PrometheusPoller(fleet.sources[0], fleet, tracker)  # made: nothing resolved yet
    try:
        poller.poll()
    except SourceError as exc:
        assert "FLEETDECK_TEST_PROM_TOKEN is not set" in str(exc)
    else:
        raise AssertionError("a missing token was not said")
    poller.close()


def test_the_old_name_of_the_device_events_signal_still_loads_and_check_names_the_new():
    text = PROFILE.replace("[models.m]\n", '[models.m]\n[trust]\nxids = ["ssh"]\n')
    profile = loads(text, "f.toml")
    assert profile.model.trust("events") == ["ssh", "gke"]
    assert profile.renamed_settings() == ["trust.xids is now events (xids still loads)"]
