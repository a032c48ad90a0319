"""The node and triage screens, the runbook card and the host key dialog."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import DataTable

from console.app.tui import FleetdeckApp
from console.core.profile import load
from screens.modals import HostKeyScreen
from screens.node import NodeScreen
from screens.triage import RunbookScreen, TriageScreen
from tests.harness.pilot import drawn, on, press_to, refreshed, wait_for, workers_done
from tests.tui.states import state_of, troubled

REPO = Path(__file__).resolve().parents[2]
GONKA = REPO / "profiles" / "gonka-two-clusters.toml"


async def history_text(pilot) -> str:
    """The node screen's History tab once the journal's worker has filled it."""
    from textual.widgets import Static

    def text() -> str:
        return str(pilot.app.screen.query_one("#actions-text", Static).render())

    await wait_for(pilot, lambda: "actions (journal)" in text(), "the history read")
    return text()


def app_with_trouble() -> FleetdeckApp:
    profile = load(GONKA)
    state = troubled(profile.model)
    return FleetdeckApp(profile, live=False, source=lambda: state)


async def test_triage_lists_alerts_worst_first_and_opens_the_runbook():
    app = app_with_trouble()
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        await press_to(pilot, "t", kind=TriageScreen)
        assert isinstance(app.screen, TriageScreen)
        table = app.screen.query_one("#alerts", DataTable)
        severities = [str(table.get_cell(r, "sev")) for r in table.rows]
        assert severities == sorted(severities, key=lambda s: s != "critical")
        nodes = {str(table.get_cell(r, "node")) for r in table.rows}
        assert {"c1-ml2", "c1-ml3", "c1-ml4", "c1-network"} <= nodes
        await press_to(pilot, "enter", kind=RunbookScreen)
        await press_to(pilot, "escape", kind=TriageScreen)


async def test_acknowledge_hides_an_alert_until_it_changes():
    app = app_with_trouble()
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        await press_to(pilot, "t", kind=TriageScreen)
        triage = app.screen
        before = triage.query_one("#alerts", DataTable).row_count
        first = triage.shown[0]
        await pilot.press("a")
        last = lambda: (triage.shown[-1].node, triage.shown[-1].kind)  # noqa: E731
        await wait_for(pilot, lambda: last() == (first.node, first.kind), "the alert last")
        await refreshed(pilot)  # the next refresh keeps it acknowledged: listed last, dimmed
        table = triage.query_one("#alerts", DataTable)
        assert table.row_count == before
        assert (triage.shown[-1].node, triage.shown[-1].kind) == (first.node, first.kind)
        assert str(table.get_cell(f"{first.node}|{first.kind}", "sev")) == "ack'd"
        summary = str(triage.query_one("#triage-summary").render())
        assert f"{before - 1} active alerts" in summary and "1 acknowledged" in summary


async def test_o_on_an_alert_opens_its_node():
    app = app_with_trouble()
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        await press_to(pilot, "t", kind=TriageScreen)
        node = app.screen.shown[0].node
        await press_to(pilot, "o", kind=NodeScreen)
        assert app.screen.node_name == node


async def test_unknown_host_key_is_asked_with_its_fingerprint():
    app = FleetdeckApp(load(GONKA), live=False)
    answers = []
    async with app.run_test(size=(120, 40)) as pilot:
        asker = threading.Thread(
            target=lambda: answers.append(
                app.ask_host_key("c1-ml1", "[10.10.1.11]:22", "ssh-ed25519", "SHA256:abc")
            )
        )
        asker.start()
        await on(pilot, HostKeyScreen)
        await pilot.press("a")
        await wait_for(pilot, lambda: not asker.is_alive(), "the answer taken")
        assert answers == [True]
        asker = threading.Thread(
            target=lambda: answers.append(
                app.ask_host_key("c1-ml2", "[10.10.1.12]:22", "ssh-ed25519", "SHA256:def")
            )
        )
        asker.start()
        await on(pilot, HostKeyScreen)
        await pilot.press("r")
        await wait_for(pilot, lambda: not asker.is_alive(), "the answer taken")
        assert answers == [True, False]


def app_with_a_lost_gpu() -> FleetdeckApp:
    """The hot node of `troubled`, whose GPU 7 also fell off the bus a minute ago."""
    profile = load(GONKA)
    state = troubled(profile.model)
    name = list(state.nodes)[3]
    node = state.nodes[name]
    gpus = node.gpus[:7] + (replace(node.gpus[7], lost=True, error="GPU is lost"),)
    node = replace(node, gpus=gpus, events=((state.taken_at - 60, 7, 79, "nvidia"),))
    state = state_of(profile.model, {**state.nodes, name: node}, state.taken_at)
    return FleetdeckApp(profile, live=False, source=lambda: state)


@pytest.mark.parametrize(
    "size", [(80, 24), (120, 40), (200, 50)], ids=lambda s: "x".join(map(str, s))
)
def test_snapshot_node(snap_compare, size):
    # the GPU table fits the width (no sideways scroll at 80), a lost GPU says why in words
    async def open_node(pilot):
        await drawn(pilot)
        await press_to(pilot, "down", "down", "down", "enter", kind=NodeScreen)

    assert snap_compare(app_with_a_lost_gpu(), terminal_size=size, run_before=open_node)


def test_snapshot_node_containers_80x24(snap_compare):
    async def containers(pilot):
        await drawn(pilot)
        await press_to(pilot, "down", "down", "down", "down", "enter", kind=NodeScreen)
        await pilot.press("2")
        await pilot.pause()

    assert snap_compare(app_with_trouble(), terminal_size=(80, 24), run_before=containers)


@pytest.mark.parametrize(
    "size", [(80, 24), (120, 40), (160, 50), (200, 50)], ids=lambda s: "x".join(map(str, s))
)
def test_snapshot_triage(snap_compare, size):
    async def triage(pilot):
        await drawn(pilot)
        await press_to(pilot, "t", kind=TriageScreen)

    assert snap_compare(app_with_trouble(), terminal_size=size, run_before=triage)


def test_snapshot_runbook_card_80x24(snap_compare):
    """The card fits a small terminal: it scrolls, nothing is cut at the right edge."""

    async def card(pilot):
        await drawn(pilot)
        await press_to(pilot, "t", kind=TriageScreen)
        await press_to(pilot, "down", "down", "enter", kind=RunbookScreen)

    assert snap_compare(app_with_trouble(), terminal_size=(80, 24), run_before=card)


async def test_history_tab_lists_the_actions_run_on_the_node(monkeypatch, tmp_path):
    from textual.widgets import TabbedContent

    from console.core.journal import DONE, FAILED, Journal

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    journal = Journal()
    run = journal.start_run("deploy", "gonka-prod", str(GONKA), {})
    journal.plan_steps(run, "c1-ml1", ["firewall", "models", "validation"])
    journal.plan_steps(run, "c1-ml2", ["firewall"])
    journal.set_step(run, "c1-ml1", "firewall", DONE, summary="6 firewall changes")
    journal.set_step(
        run, "c1-ml1", "models", FAILED, error="exit 1: hf download [/]x", attempt=True
    )
    journal.set_step(run, "c1-ml1", "models", FAILED, attempt=True)
    journal.set_step(run, "c1-ml2", "firewall", DONE)
    load = journal.start_run("loadtest", "gonka-prod", str(GONKA), {})
    journal.plan_steps(load, "c1-ml1", ["slo"])
    summary = "p95 >2 s, 52 timeouts and 0 errors in 100, 40 tok/s at 100 concurrent: SLO missed"
    journal.set_step(load, "c1-ml1", "slo", FAILED, summary, "p95 over the timeout")
    journal.close()
    app = app_with_trouble()
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        app.open_node("c1-ml1")
        await on(pilot, NodeScreen)
        await pilot.press("5")
        text = await history_text(pilot)
        assert app.screen.query_one(TabbedContent).active == "history"
        lines = [x for x in text.splitlines() if "deploy" in x]
        assert len(lines) == 2  # this node's two steps that ran; not c1-ml2's, not pending ones
        assert "models" in lines[0] and "failed" in lines[0] and "(2 attempts)" in lines[0]
        assert "firewall" in lines[1] and "done" in lines[1] and run in lines[1]
        assert "exit 1: hf download [/]x" in text  # literal
        # its last measured SLO comes first
        assert text.lstrip().startswith("last load test (") and summary in text.splitlines()[1]


async def test_a_corrupt_journal_leaves_the_console_usable_and_says_which_file(
    monkeypatch, tmp_path
):

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    damaged = tmp_path / "fleetdeck" / "journal.sqlite"
    damaged.parent.mkdir()
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 4000)
    app = app_with_trouble()
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        app.open_node("c1-ml1")
        await on(pilot, NodeScreen)
        await pilot.press("5")
        text = await history_text(pilot)
        assert isinstance(app.screen, NodeScreen)  # no traceback screen, still running
        assert "history unavailable" in text and str(damaged) in text
        await press_to(pilot, "escape", "down", "enter", kind=NodeScreen)
        assert app.is_running
    assert damaged.read_bytes().startswith(b"SQLite format 3\x00\xde\xad")  # left as it was


class Connected:
    """Stands for the live console's pool where a test only needs it to be there."""

    def close(self) -> None:
        pass


async def test_containers_tab_arrows_move_at_once_and_r_hits_exactly_the_highlighted_one():
    from dataclasses import replace

    from screens.actions import ConfirmNameScreen

    profile = load(GONKA)
    state = troubled(profile.model)
    app = FleetdeckApp(profile, live=False, source=lambda: state)
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        app.pool = Connected()  # the confirmation is asked (never answered here)
        app.open_node("c1-network")
        await on(pilot, NodeScreen)
        await pilot.press("2", "down", "down")  # no Tab first: the arrows move the rows
        screen = app.screen
        names = [c.name for c in state.nodes["c1-network"].containers]
        assert screen.selected_container() == names[2]
        # a refresh that lists the containers in another order keeps the same one selected
        node = state.nodes["c1-network"]
        reordered = replace(node, containers=tuple(reversed(node.containers)))
        screen.show(replace(state, nodes={**state.nodes, "c1-network": reordered}))
        await pilot.pause()
        assert screen.selected_container() == names[2]
        await press_to(pilot, "R", kind=ConfirmNameScreen)
        assert app.screen.expected == names[2]  # typed: the container's own name
        assert f"container {names[2]} on node c1-network" in app.screen.what
        await pilot.press("escape")


async def test_triage_acts_on_the_alert_selected_when_the_list_resorts_under_the_cursor():
    from dataclasses import replace

    app = app_with_trouble()
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        await press_to(pilot, "t", kind=TriageScreen)
        triage = app.screen
        await pilot.press("down")
        chosen = triage._current()
        assert chosen is not None
        # an alert storm: the order changes under the cursor
        storm = replace(triage.state, alerts=tuple(reversed(triage.state.alerts)))
        triage.show(storm)
        await pilot.pause()
        assert (triage._current().node, triage._current().kind) == (chosen.node, chosen.kind)
        await press_to(pilot, "enter", kind=RunbookScreen)
        assert app.screen.alert.kind == chosen.kind
        assert app.screen.alert.node == chosen.node
        await press_to(pilot, "escape", kind=TriageScreen)
        await pilot.press("a")
        said = f"acknowledged: {chosen.node}: {chosen.summary}"
        await wait_for(pilot, lambda: said in [str(n.message) for n in app._notifications], said)


async def test_acknowledgements_persist_across_consoles_and_can_be_withdrawn():
    from console.core.journal import Journal

    async def triage_of(app, pilot):
        await drawn(pilot)
        triage = await press_to(pilot, "t", kind=TriageScreen)
        await workers_done(pilot)  # the acknowledgements read from the journal
        return triage

    first = app_with_trouble()
    async with first.run_test(size=(160, 50)) as pilot:
        triage = await triage_of(first, pilot)
        chosen = triage.shown[0]
        await pilot.press("a")
        await wait_for(pilot, lambda: (chosen.node, chosen.kind) in triage.acknowledged, "ack")
        await workers_done(pilot)  # written to the journal
    journal = Journal()
    assert [(a.node, a.kind) for a in journal.acks("gonka-prod")] == [(chosen.node, chosen.kind)]
    (done,) = journal.console_actions("gonka-prod")
    assert (done.action, done.node, done.target, done.result) == (
        "acknowledge",
        chosen.node,
        chosen.kind,
        "done",
    )
    journal.close()

    second = app_with_trouble()  # a new console: the acknowledgement is still there
    async with second.run_test(size=(160, 50)) as pilot:
        triage = await triage_of(second, pilot)
        assert (chosen.node, chosen.kind) in triage.acknowledged
        assert (triage.shown[-1].node, triage.shown[-1].kind) == (chosen.node, chosen.kind)
        table = triage.query_one("#alerts", DataTable)
        table.move_cursor(row=len(triage.shown) - 1)
        await pilot.press("a")  # on an acknowledged alert: withdraw it
        await wait_for(pilot, lambda: (chosen.node, chosen.kind) not in triage.acknowledged, "-")
        await workers_done(pilot)  # written to the journal
    journal = Journal()
    assert journal.acks("gonka-prod") == []
    actions = [a.action for a in journal.console_actions("gonka-prod")]
    assert actions == ["unacknowledge", "acknowledge"]
    journal.close()


async def test_container_keys_are_offered_on_the_containers_tab_only_and_tags_show():
    from screens.node import short_image

    app = app_with_trouble()
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        app.open_node("c1-network")
        await on(pilot, NodeScreen)

        def offered() -> set[str]:
            return {key for key, b in app.screen.active_bindings.items() if b.enabled} & {
                "l",
                "R",
                "S",
            }

        assert offered() == set()  # the GPUs tab: nothing to restart here
        await pilot.press("2")
        await wait_for(pilot, lambda: offered() == {"l", "R", "S"}, "the container keys")
        await pilot.press("1")
        await wait_for(pilot, lambda: offered() == set(), "no container keys")
    long = "ghcr.io/product-science/tmkms-softsign-with-keygen:0.2.9-post2"
    assert short_image(long, 44) == "…" + long[-43:] and short_image(long, 44).endswith(
        ":0.2.9-post2"
    )
    assert short_image("nginx:1.28.0", 44) == "nginx:1.28.0"


async def test_a_golem_providers_status_is_on_its_node_screen():
    from textual.widgets import Static, TabbedContent

    from console.core.stacks.golem_status import Golem
    from tests.tui.states import healthy

    profile = load(REPO / "profiles" / "golem-providers.toml")
    nodes = healthy(profile.model)
    name = next(iter(nodes))
    nodes[name] = replace(
        nodes[name],
        provider=Golem(
            running=False,
            service="is not running",
            version="0.12.2",
            node_name="lato",
            subnet="public",
            vm="valid",
            wallet="0x2a14f8ae0272bd4c38ed1b40c66e88ed719dab69",
            network="mainnet",
            glm_total=0.0,
            tasks_total=509,
        ),
    )
    state = state_of(profile.model, nodes)
    assert any(a.kind == "golem_down" and a.node == name for a in state.alerts)
    app = FleetdeckApp(profile, live=False, source=lambda: state)
    async with app.run_test(size=(120, 40)) as pilot:
        await drawn(pilot)
        app.open_node(name)
        await on(pilot, NodeScreen)
        await pilot.press("3")
        await pilot.pause()
        tabs = app.screen.query_one(TabbedContent)
        assert tabs.active == "chain" and str(tabs.get_tab("chain").label) == "Provider [3]"
        text = str(app.screen.query_one("#chain-text", Static).render())
        assert "Golem provider  NOT RUNNING (is not running)" in text
        assert "lato" in text and "0x2a14f8ae0272bd4c38ed1b40c66e88ed719dab69" in text
        assert "509" in text and "no chain on this node" not in text


def app_with_mixed_accelerators() -> FleetdeckApp:
    from tests.tui.states import mixed_accelerators

    profile = load(REPO / "tests" / "data" / "sim-accelerators.toml")
    state = mixed_accelerators(profile.model)
    return FleetdeckApp(profile, live=False, source=lambda: state)


SIZES = [(80, 24), (160, 50)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_snapshot_fleet_of_three_accelerator_vendors(snap_compare, size):
    # the header counts each kind of device by itself
    assert snap_compare(app_with_mixed_accelerators(), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("row", [1, 2], ids=["gaudi", "mi300x"])
def test_snapshot_node_of_each_vendor(snap_compare, size, row):
    # a Gaudi or AMD node's devices in the same columns as a GPU's: model, use, memory,
    # heat, power, and their state in the vendor's words
    async def open_node(pilot):
        await drawn(pilot)
        await press_to(pilot, *["down"] * row, "enter", kind=NodeScreen)

    assert snap_compare(app_with_mixed_accelerators(), terminal_size=size, run_before=open_node)


async def test_a_node_muted_with_fleetdeck_mute_is_listed_last_and_said_muted():
    from console.core.journal import Journal

    app = app_with_trouble()
    state = app.source()
    first = state.alerts[0]  # the worst alert: muted, it goes to the end
    journal = Journal()  # muted for an hour past the (fixed) time of the state shown
    journal.mute("gonka-prod", first.node, "*", state.taken_at + 3600, "disk swap")
    journal.close()
    async with app.run_test(size=(160, 50)) as pilot:
        await drawn(pilot)
        triage = await press_to(pilot, "t", kind=TriageScreen)
        await workers_done(pilot)  # the mutes read from the journal
        await wait_for(pilot, lambda: triage.shown[-1].node == first.node, "muted last")
        table = triage.query_one("#alerts", DataTable)
        assert str(table.get_row_at(len(triage.shown) - 1)[0]) == "muted"
        summary = str(triage.query_one("#triage-summary").render())
        assert "muted (fleetdeck mute)" in summary
