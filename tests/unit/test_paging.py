"""Which alerts page and when (console/core/paging/rules.py), and the pager's promises
(pager.py): one trigger per page, a resolve only for what was sent, retries with backoff
that honour a channel's retry_after, and what was sent kept across a restart."""

from __future__ import annotations

from dataclasses import replace

from console.core.paging.pager import Delivery, Pager
from console.core.paging.rules import due
from console.core.profile import loads
from console.core.state import Alert, FleetState, NodeStatus

NOW = 1_800_000_000.0
PROFILE = """
[fleet]
name = "f"
stack = "gonka"

[paging]
hold_s = 60

[[paging.rules]]
kinds = ["gpu_hot"]
severity = "warning"
hold_s = 0

[[paging.rules]]
clusters = ["c2"]
page = false

[[paging.rules]]
labels = {region = "eu"}
hold_s = 300

[[clusters]]
name = "c1"
[[clusters.nodes]]
name = "n1"
host = "10.0.0.1"
role = "network"
[[clusters.nodes]]
name = "m1"
host = "10.0.0.2"
role = "ml"

[[clusters]]
name = "c2"
[[clusters.nodes]]
name = "n2"
host = "10.0.0.3"
role = "network"

[[clusters]]
name = "c3"
labels = {region = "eu"}
[[clusters.nodes]]
name = "n3"
host = "10.0.0.4"
role = "network"
"""
FLEET = loads(PROFILE).model


def state(*alerts: Alert) -> FleetState:
    nodes = {
        n.name: NodeStatus(n.name, c.name, n.role, "gonka", reachable=True, seen_at=NOW)
        for c, n in FLEET.all_nodes()
    }
    return FleetState(nodes, alerts, NOW, 2.0)


def alert(node: str, kind: str, severity: str = "critical", age: float = 0.0) -> Alert:
    return Alert(node, kind, severity, f"{kind} on {node}", NOW - age, "evidence", "next step")


def test_an_alert_pages_once_it_held_at_its_rules_severity():
    assert due(FLEET, state(alert("n1", "unreachable", age=59)), NOW) == {}
    pages = due(FLEET, state(alert("n1", "unreachable", age=60)), NOW)
    assert list(pages) == ["f/n1/unreachable"]
    page = pages["f/n1/unreachable"]
    assert (page.cluster, page.node, page.kind, page.severity) == (
        "c1",
        "n1",
        "unreachable",
        "critical",
    )
    assert (page.evidence, page.next_step) == ("evidence", "next step")
    # a warning does not page under [paging]'s critical; its kind's rule lowers the bar
    assert due(FLEET, state(alert("m1", "disk_low", "warning", age=600)), NOW) == {}
    assert list(due(FLEET, state(alert("m1", "gpu_hot", "warning")), NOW)) == ["f/m1/gpu_hot"]
    # a cluster that never pages, and a region that holds longer
    assert due(FLEET, state(alert("n2", "unreachable", age=999)), NOW) == {}
    assert due(FLEET, state(alert("n3", "unreachable", age=299)), NOW) == {}
    assert list(due(FLEET, state(alert("n3", "unreachable", age=300)), NOW)) == ["f/n3/unreachable"]
    assert due(FLEET, state(alert("n3", "unreachable", age=1)), NOW, paged={"f/n3/unreachable"})


def test_a_rule_naming_a_cluster_that_is_not_there_is_refused():
    import pytest

    from console.core.profile import ProfileError

    with pytest.raises(ProfileError) as err:
        loads(PROFILE.replace('clusters = ["c2"]', 'clusters = ["c9"]'))
    assert "paging.rules[1].clusters" in str(err.value) and "'c9' is not defined" in str(err.value)


class Channel:
    """A channel that answers as told, and keeps what it was sent."""

    name = "test"
    batch = False
    renews = False

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str]]] = []
        self.answers: list[Delivery] = []

    def deliver(self, action: str, pages, now: float) -> Delivery:
        self.sent.append(("trigger" if action == "page" else action, [p.key for p in pages]))
        return self.answers.pop(0) if self.answers else Delivery(True, "ok")


def test_a_page_is_sent_once_resolved_once_and_retried_with_backoff(tmp_path):
    clock = [NOW]
    channel = Channel()
    journal: list[tuple[str, str, str]] = []
    pager = Pager(
        [channel],
        tmp_path / "watch.json",
        lambda: clock[0],
        lambda action, page, result, detail: journal.append((action, page.node, result)),
    )
    firing = due(FLEET, state(alert("n1", "unreachable", age=60)), NOW)
    channel.answers = [Delivery(False, "429 Too Many Requests", retry_after=30)]
    pager.observe(firing)
    assert channel.sent == [("trigger", ["f/n1/unreachable"])]
    clock[0] += 10  # the channel asked for 30 s: not tried again before
    pager.observe(firing)
    assert len(channel.sent) == 1
    clock[0] += 25
    pager.observe(firing)
    pager.observe(firing)
    assert channel.sent == [("trigger", ["f/n1/unreachable"])] * 2  # sent, and once only
    assert journal == [("page", "n1", "failed"), ("page", "n1", "sent")]
    pager.observe({})
    pager.observe({})
    assert channel.sent[-1] == ("resolve", ["f/n1/unreachable"]) and len(channel.sent) == 3


def test_what_never_reached_a_channel_is_never_resolved_and_a_restart_remembers(tmp_path):
    clock = [NOW]
    channel = Channel()
    path = tmp_path / "watch.json"
    pager = Pager([channel], path, lambda: clock[0])
    firing = due(FLEET, state(alert("n1", "unreachable", age=60)), NOW)
    channel.answers = [Delivery(False, "connection refused")]
    pager.observe(firing)
    clock[0] += 60
    pager.observe({})  # it cleared before the channel ever took it: nothing to resolve
    assert channel.sent == [("trigger", ["f/n1/unreachable"])]
    # sent, then the pager is started again from its file: the page is not sent again
    pager.observe(firing)
    again = Pager([channel], path, lambda: clock[0])
    assert list(again.sent) == ["f/n1/unreachable"]
    again.observe(firing)
    assert channel.sent.count(("trigger", ["f/n1/unreachable"])) == 2
    # a restart that finds the alert gone resolves it once
    third = Pager([channel], path, lambda: clock[0])
    third.observe({})
    third.observe({})
    assert channel.sent[-1] == ("resolve", ["f/n1/unreachable"])
    assert Pager([channel], path, lambda: clock[0]).sent == {}


def test_a_flapping_alert_sends_nothing_until_it_stays_clear(tmp_path):
    clock = [NOW]
    channel = Channel()
    pager = Pager([channel], tmp_path / "watch.json", lambda: clock[0], clear_s=60)
    firing = due(FLEET, state(alert("n1", "unreachable", age=60)), NOW)
    pager.observe(firing)
    for _ in range(5):  # down, up, down, up: within the minute each time
        clock[0] += 20
        pager.observe({})
        clock[0] += 20
        pager.observe(firing)
    assert channel.sent == [("trigger", ["f/n1/unreachable"])]
    clock[0] += 1
    pager.observe({})
    clock[0] += 59
    pager.observe({})
    assert channel.sent == [("trigger", ["f/n1/unreachable"])]
    clock[0] += 1
    pager.observe({})
    assert channel.sent[-1] == ("resolve", ["f/n1/unreachable"])


def test_a_node_not_looked_at_yet_keeps_its_page_open(tmp_path):
    clock = [NOW]
    channel = Channel()
    pager = Pager([channel], tmp_path / "watch.json", lambda: clock[0])
    pager.observe(due(FLEET, state(alert("n1", "unreachable", age=60)), NOW))
    clock[0] += 10
    pager.observe({}, unknown={"n1"})  # a restarted watch that has not seen n1 yet
    assert channel.sent == [("trigger", ["f/n1/unreachable"])]
    pager.observe({})
    assert channel.sent[-1] == ("resolve", ["f/n1/unreachable"])


def test_the_metrics_are_valid_prometheus_text_whatever_a_node_is_called():
    from console.core.monitor.export import render
    from console.core.sources.promtext import parse

    hostile = 'n"1\\\n{}'
    st = state(alert("n1", "unreachable"))
    st = FleetState(
        {
            **st.nodes,
            hostile: NodeStatus(hostile, "c1", "ml", "gonka", reachable=True, seen_at=NOW),
        },
        (*st.alerts, Alert(hostile, "gpu_hot", "warning", "hot", NOW, "", "")),
        NOW,
        2.0,
    )
    text = render(st, "f", 1, {"n1": 0.995})
    samples, bad = parse(text)
    assert bad == 0
    states = {
        (s.labels["node"], s.labels["state"]): s.value
        for s in samples
        if s.name == "fleetdeck_node_state"
    }
    assert states[("n1", "down")] == 1 and states[(hostile, "up")] == 1
    assert any(s.name == "fleetdeck_alert" and s.labels["node"] == hostile for s in samples)
    assert [s.value for s in samples if s.name == "fleetdeck_uptime_ratio"] == [0.995]


def test_a_muted_or_acknowledged_alert_does_not_page_and_a_sent_page_stays_open(tmp_path):
    from console.core.journal import Ack, Mute
    from console.core.paging.rules import quiet

    clock = [NOW]
    channel = Channel()
    pager = Pager([channel], tmp_path / "watch.json", lambda: clock[0])
    pages = due(
        FLEET, state(alert("n1", "unreachable", age=60), alert("m1", "gpu_hot", "warning")), NOW
    )
    mute = Mute("f", "n1", "*", NOW + 3600, NOW, "ops", "maintenance", "")
    ack = Ack("f", "m1", "gpu_hot", "gpu_hot on m1", NOW, "ops")
    held = quiet(pages, [mute], [ack], NOW)
    assert held == {"f/n1/unreachable", "f/m1/gpu_hot"}
    pager.observe(pages, quiet=held)
    assert channel.sent == []
    # the mute ends: it pages; muted again, the sent page is neither resolved nor resent
    assert quiet(pages, [mute], [], NOW + 3600) == set()
    pager.observe(pages)
    assert ("trigger", ["f/n1/unreachable"]) in channel.sent
    sent = len(channel.sent)
    pager.observe(pages, quiet=held)
    assert len(channel.sent) == sent
    # an acknowledgement holds the alert as it read: new words page again
    changed = {k: replace(p, summary="gpu_hot on m1, hotter") for k, p in pages.items()}
    assert "f/m1/gpu_hot" not in quiet(changed, [], [ack], NOW)
