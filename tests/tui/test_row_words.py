"""The console's fleet row and `status`'s line say the same words for every node state and
alert (console/core/rows.py computes them once): the console adds glyphs and colours, no
words of its own (issue 28)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from console.core.profile import load
from console.core.rows import expected_containers
from console.core.state import Container
from console.core.status_table import cells as status_cells
from screens import cells
from tests.tui.states import NOW, healthy, state_of, troubled

REPO = Path(__file__).resolve().parents[2]
GLYPHS = "●○✕"


def variants(profile) -> list:
    """The TUI tests' states, and a node in each other condition and column state."""
    nodes = healthy(profile, NOW)
    names = list(nodes)
    net, ml = nodes[names[0]], nodes[names[1]]
    odd = {
        "key": replace(ml, host_key_changed=True),
        "stale": replace(ml, seen_at=NOW - 20, probe_at=NOW - 20),
        "down-since": replace(ml, reachable=False, seen_at=NOW - 3600, error="no route"),
        "down": replace(ml, reachable=False, seen_at=None, error="refused"),
        "connecting": replace(ml, reachable=False, seen_at=None, probe_at=None),
        "lost-gpu": replace(ml, gpus=(replace(ml.gpus[0], lost=True), *ml.gpus[1:])),
        "no-gpus": replace(ml, gpus=(), gpu_error="NVML: driver not loaded"),
        "exited": replace(ml, containers=(replace(ml.containers[0], state="exited", exit_code=1),)),
        "unhealthy": replace(
            ml,
            containers=tuple(replace(c, health="unhealthy") for c in ml.containers),
        ),
        "unknown-containers": replace(ml, containers=(), container_error="docker: no socket"),
        "extra": replace(
            ml, containers=(*ml.containers, Container("x", "x:1", "running", None, 0, "", 0))
        ),
        "syncing": replace(net, chain=replace(net.chain, catching_up=True, peers=0)),
        "no-chain": replace(net, chain=None),
        "poc": replace(net, chain=replace(net.chain, phase="PoC", blocks_to_poc=None)),
    }
    states = [troubled(profile, NOW), state_of(profile, nodes, NOW)]
    for name, node in odd.items():
        target = net.name if node.role == "network" else ml.name
        states.append((name, state_of(profile, {**nodes, target: node}, NOW)))
    return [s if isinstance(s, tuple) else ("tui", s) for s in states]


def joined(*parts: str) -> str:
    """Cells' words joined as one `status` column: no-value dashes left out."""
    return " ".join(p for p in parts if p not in ("", "—")) or "-"


def console_words(node, state, profile, mine) -> tuple[str, ...]:
    """The console's row for the node, its glyphs and sparkline taken off, its columns put
    in `status`'s order (GPUS is the count, the utilisation and the temperature)."""
    cluster = profile.cluster_of(node.name)
    spec = next(n for n in cluster.nodes if n.name == node.name)
    expected = expected_containers(node, bool(spec.model or spec.models))
    gpu = cells.gpu_cell(node).plain.lstrip("▁▂▃▄▅▆▇█ ").split()  # [util, count] or [word]
    alerts = cells.alerts_cell(mine).plain
    return (
        cells.node_state(node, state, mine).plain.lstrip(GLYPHS).strip(),
        joined(*gpu[-1:], *gpu[:-1], cells.temp_cell(node, profile.alerts.gpu_temp_c).plain),
        joined(cells.containers_cell(node, expected).plain),
        joined(cells.chain_cell(node).plain, cells.epoch_cell(node).plain),
        alerts.split()[0] if alerts != "—" else "-",
    )


def test_the_console_and_status_say_the_same_words_for_every_node():
    profile = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    serving = {n.name for _, n in profile.all_nodes() if n.model or n.models}
    seen_words = set()
    for label, state in variants(profile):
        by_node: dict[str, list] = {}
        for a in state.alerts:
            by_node.setdefault(a.node, []).append(a)
        for name, node in state.nodes.items():
            mine = by_node.get(name, [])
            plain = status_cells(node, state, mine, name in serving)
            console = console_words(node, state, profile, mine)
            # the status ALERTS column is the count and the worst severity; the console's
            # the count and the worst one's summary
            assert plain[:4] == console[:4], (label, name)
            assert plain[4].split()[0] == console[4], (label, name)
            seen_words.add(plain[0].split()[0])
    # every condition was shown at least once
    assert {"up", "degraded", "KEY", "stale", "down", "connecting"} <= seen_words, seen_words


def test_the_epoch_clock_says_when_changes_must_wait_and_when_the_window_opens():
    from console.core.rows import epoch_clock

    profile = load(Path(__file__).resolve().parents[2] / "profiles" / "gonka-two-clusters.toml")
    net = healthy(profile.model, NOW)["c1-network"]

    def clock(**chain) -> str:
        return epoch_clock(replace(net, chain=replace(net.chain, **chain))).plain

    height = net.chain.height
    assert clock(window_at=height + 300) == "PoC in 120 blocks window in 300"
    assert clock(window_at=height - 380) == "PoC in 120 blocks window open"
    assert clock(phase="PoCGenerate", window_at=height + 39_000) == (
        "PoC (PoCGenerate) runs: hold changes; window in 39000 blocks"
    )
    assert clock(confirmation_poc=True).startswith("confirmation PoC runs: hold changes")
    assert epoch_clock(None).text == "" and epoch_clock(replace(net, chain=None)).text == ""
