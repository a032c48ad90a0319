"""Alert rules judged on one node's status, as the tracker evaluates them."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from console.core.monitor.alerts import evaluate
from console.core.profile import load
from tests.tui.states import NOW, healthy

REPO = Path(__file__).resolve().parents[2]
INTERVAL = 2.0


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def ml_node(**container):
    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    node = healthy(profile, NOW)["c1-ml1"]
    containers = tuple(
        replace(c, **container) if c.name == "mlnode-308" else c for c in node.containers
    )
    return profile, replace(node, containers=containers, probe_at=NOW)


def restart_alerts(**container) -> list:
    profile, node = ml_node(**container)
    found = evaluate(node, profile.alerts, NOW, INTERVAL, serves_model=True)
    return [f for f in found if f.kind.startswith("container_restarting")]


def test_a_fixed_crash_loop_stops_being_critical():
    # Docker's count never resets: 486 restarts, but running steadily for a minute now
    assert restart_alerts(state="running", restarts=486, started_at=rfc3339(NOW - 60)) == []


def test_a_crash_loop_is_critical_while_it_restarts_or_has_just_come_back():
    (now,) = restart_alerts(state="restarting", restarts=12, started_at=rfc3339(NOW - 2))
    assert now.severity == "critical" and now.evidence.startswith("12 restarts, the last at ")
    (back,) = restart_alerts(state="running", restarts=13, started_at=rfc3339(NOW - 1.5))
    assert back.severity == "critical"
    # a container that never restarted, just started: not a loop
    assert restart_alerts(state="running", restarts=0, started_at=rfc3339(NOW - 1)) == []


def test_a_node_still_connecting_or_not_yet_deployed_is_not_critical():
    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    node = healthy(profile, NOW)["c1-network"]
    connecting = replace(node, reachable=False, seen_at=None, probe_at=None, error=None)
    assert evaluate(connecting, profile.alerts, NOW, INTERVAL) == []
    refused = replace(connecting, error="connection refused")
    assert [f.kind for f in evaluate(refused, profile.alerts, NOW, INTERVAL)] == ["unreachable"]
    bare = replace(node, containers=(), chain=None)
    found = evaluate(bare, profile.alerts, NOW, INTERVAL, serves_model=True)
    assert [(f.kind, f.severity) for f in found if f.kind.startswith("container")] == []
    (deploy,) = [f for f in found if f.kind == "not_deployed"]
    assert deploy.severity == "info" and "--limit c1-network" in deploy.next_step


def test_the_console_and_status_use_one_word_for_a_node():
    from console.core.state import FleetState

    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    nodes = healthy(profile, NOW)
    stale = replace(nodes["c1-ml1"], seen_at=NOW - 20)
    down = replace(nodes["c1-ml2"], seen_at=NOW - 600, reachable=False, error="timed out")
    state = FleetState({**nodes, "c1-ml1": stale, "c1-ml2": down}, (), NOW, INTERVAL)
    assert state.condition(nodes["c1-ml3"]) == "up"
    assert state.condition(stale) == "stale"
    assert state.condition(down) == "down since"


def test_a_stalled_chain_is_compared_with_the_fleets_other_chain_nodes():
    from console.core.monitor.alerts import compare_with_peers
    from console.core.state import Alert

    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    nodes = healthy(profile, NOW)
    stuck = Alert("c1-network", "chain_stalled", "critical", "chain stalled", NOW, "no block", "")
    (said,) = compare_with_peers([stuck], nodes)
    ahead = nodes["c2-network"].chain.height - nodes["c1-network"].chain.height
    assert said.evidence.endswith(
        f"c2-network is at {nodes['c2-network'].chain.height} ({ahead} ahead): this node is stuck"
    )
    top = Alert("c2-network", "chain_stalled", "critical", "chain stalled", NOW, "no block", "")
    (halted,) = compare_with_peers([top], nodes)
    assert "the chain itself may be halted" in halted.evidence


def test_the_latency_card_speaks_the_stacks_language():
    from console.core.stacks import STACKS

    ollama = STACKS["ollama"].runbook("service_slow:latency")
    assert ollama is not None and "ollama ps" in " ".join(ollama.checks)
    assert "vllm:" not in " ".join(ollama.checks) + ollama.meaning
    vllm = STACKS["vllm"].runbook("service_slow:latency")
    assert vllm is not None and any("vllm:num_requests_waiting" in c for c in vllm.checks)
    # a stack's chain kinds are its own; a kind every stack shares falls back to the general
    assert STACKS["gonka"].runbook("validator_not_in_set") is not None
    assert STACKS["ollama"].runbook("validator_not_in_set") is None
    assert STACKS["ollama"].runbook("gpu_hot") is STACKS["vllm"].runbook("gpu_hot") is not None


def test_status_watch_is_one_compact_screen_that_agrees_with_the_console():
    from console.core.status_table import render
    from tests.tui.states import troubled

    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    state = troubled(profile, NOW)
    text = render(state, profile, 80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines) and len(lines) == 1 + len(state.nodes)
    words = {line.split()[0]: line.split()[1] for line in lines[1:]}
    for name, node in state.nodes.items():  # the console's word for each node
        assert words[name] == state.condition(node).split()[0], name
    assert "critical: container mlnode-308" in text  # the worst alert, cut to fit


def test_a_chain_node_far_behind_the_fleets_highest_is_a_warning():
    from console.core.monitor.alerts import behind_peers

    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    nodes = healthy(profile, NOW)
    top = nodes["c2-network"].chain.height
    lag = profile.alerts.chain_lag_blocks
    near = replace(nodes["c1-network"].chain, height=top - lag)
    assert (
        list(
            behind_peers(
                {**nodes, "c1-network": replace(nodes["c1-network"], chain=near)}, profile.alerts
            )
        )
        == []
    )
    far = replace(nodes["c1-network"].chain, height=top - lag - 5)
    ((name, found),) = behind_peers(
        {**nodes, "c1-network": replace(nodes["c1-network"], chain=far)}, profile.alerts
    )
    assert name == "c1-network" and found.kind == "chain_behind"
    assert f"{lag + 5} blocks behind" in found.summary and "c2-network" in found.evidence
    # catching up is its own alert: not also "behind"
    syncing = replace(far, catching_up=True)
    nodes_syncing = {**nodes, "c1-network": replace(nodes["c1-network"], chain=syncing)}
    assert list(behind_peers(nodes_syncing, profile.alerts)) == []


def test_service_ports_come_from_the_clusters_settings():
    import httpx

    from console.core.profile.schema import StackSection
    from console.core.stacks.collectors import COLLECTORS

    asked = []

    class Http:
        client = None

        def get(self, port, path):
            asked.append((port, path))
            raise httpx.ConnectError("not here")

    moved = StackSection(ollama_port=11500, vllm_port=8100)
    COLLECTORS["ollama"].services(Http(), moved, "provider", True, None, False)
    COLLECTORS["vllm"].services(Http(), moved, "server", True, None, False)
    assert asked == [(11500, "/api/tags"), (8100, "/health")]


def test_a_private_port_published_on_every_interface_is_a_warning():
    """Gonka's own compose puts 9100 (and an ML node's 8080 and 5050) on 0.0.0.0, where
    docker's rules pass before ufw's: the console says so, naming the bindings."""
    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    node = healthy(profile, NOW)["c1-ml1"]

    def with_ports(*published):
        cs = tuple(
            replace(c, published=published) if c.name == "inference" else c for c in node.containers
        )
        found = evaluate(replace(node, containers=cs, probe_at=NOW), profile.alerts, NOW, 2.0, True)
        return [f for f in found if f.kind.startswith("port_public")]

    (wide,) = with_ports((8080, "0.0.0.0", 8080), (5000, "0.0.0.0", 5050))
    assert wide.kind == "port_public:inference" and wide.severity == "warning"
    assert wide.summary == "inference publishes private port 5050, 8080 to the world"
    assert "0.0.0.0:5050->5000/tcp" in wide.evidence and "ufw" in wide.evidence
    # as fleetdeck's deploy binds them: the loopback and the node's private address
    assert with_ports((8080, "127.0.0.1", 8080), (5000, "10.0.1.7", 5050)) == []
    assert with_ports((5000, "::", 5050))  # IPv6's every-interface too


def test_versiond_is_watched_where_it_runs_and_never_missing_where_it_does_not():
    """Gonka 0.2.12+ runs versiond beside the API; a 0.2.9-0.2.10 host has none."""
    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    node = healthy(profile, NOW)["c1-network"]
    assert "versiond" not in {c.name for c in node.containers}
    old = evaluate(replace(node, probe_at=NOW), profile.alerts, NOW, 2.0)
    assert not [f for f in old if "versiond" in f.kind]
    api = next(c for c in node.containers if c.name == "api")
    down = replace(api, name="versiond", state="exited", exit_code=1)
    new = replace(node, containers=(*node.containers, down), probe_at=NOW)
    (found,) = [f for f in evaluate(new, profile.alerts, NOW, 2.0) if "versiond" in f.kind]
    assert found.kind == "container_exited:versiond" and found.severity == "critical"


def test_a_port_exposure_offers_no_ml_node_disable_and_has_a_runbook():
    from console.core.stacks import STACKS
    from console.core.stacks.gonka import ml_node_to_disable

    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    assert ml_node_to_disable(profile, "c1-ml1", "port_public:inference") is None
    assert ml_node_to_disable(profile, "c1-ml1", "gpu_lost:0") == ("c1-network", "c1-ml1")
    card = STACKS["gonka"].runbook("port_public:inference")
    assert card is not None and "ufw" in card.meaning


def test_a_model_on_the_cpu_is_critical_and_says_how_much():
    from console.core.state import Service

    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    node = healthy(profile, NOW)["c1-ml1"]
    spilled = Service(
        "ollama gpu", False, None, 200, "llama3.1:8b: 62 % on the CPU (1.9 of 4.9 GB)", "placement"
    )
    found = evaluate(replace(node, services=(spilled,), probe_at=NOW), profile.alerts, NOW, 2.0)
    (alert,) = [f for f in found if f.kind.startswith("gpu_fallback")]
    assert alert.severity == "critical" and "62 % on the CPU" in alert.evidence
    assert not [f for f in found if f.kind.startswith("service_")]  # not 'down', not 'slow'
    from console.core.stacks import STACKS

    assert "ollama ps" in " ".join(STACKS["ollama"].runbook(alert.kind).checks)
    placed = replace(spilled, ok=True, detail="")
    found = evaluate(replace(node, services=(placed,), probe_at=NOW), profile.alerts, NOW, 2.0)
    assert not [f for f in found if f.kind.startswith(("gpu_fallback", "service_"))]


def test_plain_status_prints_remote_text_literally_and_without_control_characters():
    """`status` without a console: markup stays text and an escape sequence from a node
    (an error, a container's name in an alert) reaches the terminal as a visible escape
    (issue 27, 17)."""
    from console.core.state import Alert
    from console.core.status_table import render
    from tests.tui.states import state_of

    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    nodes = healthy(profile, NOW)
    names = list(nodes)
    evil = "[bold]x[/] \x1b]0;pwned\x07\u202e"
    nodes[names[1]] = replace(nodes[names[1]], reachable=False, seen_at=NOW - 60, error=evil)
    state = state_of(profile, nodes, NOW)
    plain = render(state, profile)
    assert "[bold]x[/] \\x1b]0;pwned\\x07\\u202e" in plain  # markup is text; escapes shown
    said = Alert(names[1], "x", "critical", f"container {evil} exited", NOW, "", "")
    compact = render(replace(state, alerts=(said,)), profile, 200)  # the worst alert's words
    assert "critical: container [bold]x[/] \\x1b]0;pwned" in compact, compact
    for text in (plain, compact):
        assert not any(c in text for c in "\x1b\x07\u202e"), repr(text)


def test_a_node_with_two_vendors_is_judged_by_each_in_its_own_words():
    from console.core.state import Gpu

    profile, node = ml_node()
    nvidia = tuple(replace(g, vendor="nvidia") for g in node.gpus[:4])
    gaudi = tuple(
        Gpu(index=i, name="HL-325L", vendor="gaudi", temp_c=40, bus=f"0000:{i:02x}:00.0")
        for i in range(4)
    )
    nvidia = (replace(nvidia[0], ecc_uncorrected=2), *nvidia[1:])
    gaudi = (replace(gaudi[0], health="disabled"), *gaudi[1:])
    mixed = replace(
        node,
        gpus=nvidia + gaudi,
        expected_gpus=9,
        events=((NOW - 5, 0, 48, "nvidia"), (NOW - 5, 3, 43, "nvidia")),
    )
    found = {f.kind: f for f in evaluate(mixed, profile.alerts, NOW, INTERVAL)}
    # GPU 0's ECC and HPU 0's status are two problems, each in its vendor's words
    assert "nvidia-smi -r" in found["gpu_ecc:0"].next_step
    assert "Xid 48" in found["gpu_ecc:0"].evidence  # the Xid explains the ECC alert
    assert found["hpu_status:0"].next_step.count("hl-smi -r -i 0000:00:00.0") == 1
    assert found["xid:43"].summary == "Xid 43 on GPU 3: GPU stopped processing"
    # 8 of 9 listed: counted across both vendors, named as neither's alone
    assert found["gpu_missing"].summary == "8 of 9 GPUs visible"
    assert not any(k.startswith("hpu_") and "xid" in f.summary.lower() for k, f in found.items())


def miss_alerts(served, missed, last_served=None, last_missed=None) -> list:
    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    node = healthy(profile, NOW)["c1-network"]
    chain = replace(
        node.chain,
        inferences=served,
        missed=missed,
        last_epoch_inferences=last_served,
        last_epoch_missed=last_missed,
    )
    found = evaluate(replace(node, chain=chain), profile.alerts, NOW, INTERVAL)
    return [f for f in found if f.kind == "inference_misses"]


def test_a_hosts_miss_rate_over_the_epoch_warns_above_10_and_is_critical_above_25_percent():
    (critical,) = miss_alerts(70, 30, 990, 10)
    assert critical.severity == "critical"
    assert critical.summary == "missed 30% of inference requests this epoch"
    assert critical.evidence == (
        "this epoch: missed 30 of 100 (30%); last epoch: missed 10 of 1000 (1%)"
    )
    (warning,) = miss_alerts(880, 120)
    assert warning.severity == "warning" and "12%" in warning.summary
    assert miss_alerts(95, 5, 950, 50) == []  # 5 %: tolerated
    assert miss_alerts(10, 9) == []  # 19 requests: too few to judge
    assert miss_alerts(None, None) == []  # no statistics read: nothing to say
    # a bad last epoch still shows while this one has few requests yet
    (last,) = miss_alerts(3, 2, 600, 400)
    assert last.severity == "critical" and last.summary.endswith("last epoch")
