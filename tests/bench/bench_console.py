"""The console on a 1,000-node fleet refreshing every second, headless.

Run:  .venv/bin/python tests/bench/bench_console.py [--nodes 1000] [--rounds 20]

It drives the real app (Pilot, 160×50) with generated fleet states in which every node's
values change every round (each state built when it is needed, so that only one is alive,
as in the console), and prints:
- refresh apply: from handing the fleet screen one full new state (all rows) to the frame
  that shows it;
- keypress-to-update: from a cursor key to the frame that shows the cursor moved;
(median, p95) beside the same figures for a plain DataTable rebuilt from scratch each round
(clear + add_rows), the obvious way to write it. Targets: refresh apply under 50 ms,
keypress p95 under 100 ms.

"The frame" is the last one the app composed before it went idle again. Headless Textual
composes every frame but skips encoding it for a terminal; the bench encodes each one as the
terminal driver would (so that cost counts) and notes the time. Pilot's own figures (to
`pause()` returning) are printed too: Pilot waits for idleness in sleeps of 20 ms, and sleeps
again when the app used a millisecond of CPU during one, so they read 20-40 ms above the
app's own time; an idle app's pause and keypress are timed for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from rich.text import Text  # noqa: E402
from textual.app import App  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from console.app.tui import FleetdeckApp  # noqa: E402
from console.core.profile import loads  # noqa: E402
from screens.fleet import FleetScreen  # noqa: E402
from tests.tui.states import healthy, state_of  # noqa: E402


def profile_text(nodes: int) -> str:
    out = ['[fleet]\nname = "big"\nstack = "gonka"\n[models."Qwen/Qwen3-32B-FP8"]\n']
    for c in range(nodes // 10):
        out.append(f'[[clusters]]\nname = "c{c}"\n')
        for i in range(10):
            role = "network" if i == 0 else "ml"
            out.append(
                f'[[clusters.nodes]]\nname = "c{c}-n{i}"\nhost = "10.{c // 250}.'
                f'{c % 250}.{i + 1}"\nrole = "{role}"\nmodel = "Qwen/Qwen3-32B-FP8"\n'
                "gpus = 8\n"
            )
    return "".join(out)


def states(fleet, rounds: int):
    """One new state per round, built when it is needed (as the monitor builds them), so
    that only the current state is alive, as in the running console, and with the fleet's
    counts made, as the console's snapshot thread makes them before the screen takes it."""
    base = healthy(fleet)
    for r in range(rounds):
        nodes = {}
        for i, (name, node) in enumerate(base.items()):
            gpus = tuple(
                replace(g, util=(g.util + r * 7 + i) % 100, temp_c=50 + (r + i + g.index) % 30)
                for g in node.gpus
            )
            nodes[name] = replace(
                node, gpus=gpus, util_history=node.util_history[1:] + (float((r * 13 + i) % 100),)
            )
        state = state_of(fleet, nodes)
        state.tally  # noqa: B018 - made on the console's snapshot thread (build_state), not the UI's
        yield state


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


IDLE: dict[str, float] = {}


async def idle_baseline() -> None:
    """Pilot's own cost: a pause and a keypress on an app with nothing to do."""

    class Idle(App[None]):
        def compose(self):
            yield DataTable()

    async with Idle().run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        pauses, presses = [], []
        for _ in range(20):
            t0 = time.perf_counter()
            await pilot.pause()
            pauses.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            await pilot.press("x")
            presses.append((time.perf_counter() - t0) * 1000)
    IDLE["pause"], IDLE["press"] = statistics.median(pauses), statistics.median(presses)


class FrameClock:
    """When the app's frames are ready for the terminal (see the module's note)."""

    def __init__(self, app: App) -> None:
        self.times: list[float] = []
        display = app._display

        def timed(screen, update) -> None:
            if update is not None and hasattr(update, "render_segments"):
                update.render_segments(app.console)  # what the terminal driver would write
                self.times.append(time.perf_counter())
            display(screen, update)

        app._display = timed  # type: ignore[method-assign]

    def since(self, t0: float) -> float:
        frames = [t for t in self.times if t >= t0]
        assert frames, "no frame was drawn"
        return (frames[-1] - t0) * 1000


class Figures:
    def __init__(self) -> None:
        self.applies: list[float] = []  # to the frame
        self.keys: list[float] = []
        self.pilot_applies: list[float] = []  # to Pilot's pause() returning
        self.pilot_keys: list[float] = []


async def bench_fleetdeck(profile, generated) -> Figures:
    app = FleetdeckApp(profile, live=False)
    out = Figures()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        clock = FrameClock(app)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one("#nodes", DataTable)
        for state in generated:
            t0 = time.perf_counter()
            screen.show(state)
            await pilot.pause()  # until the screen has processed the update and repainted
            out.pilot_applies.append((time.perf_counter() - t0) * 1000)
            out.applies.append(clock.since(t0))
            before = table.cursor_row
            t0 = time.perf_counter()
            await pilot.press("down")
            assert table.cursor_row == before + 1
            out.pilot_keys.append((time.perf_counter() - t0) * 1000)
            out.keys.append(clock.since(t0))
    return out


class Naive(App[None]):
    def compose(self):
        yield DataTable()


async def bench_naive(generated) -> Figures:
    app = Naive()
    out = Figures()
    async with app.run_test(size=(160, 50)) as pilot:
        clock = FrameClock(app)
        table = app.query_one(DataTable)
        table.add_columns("node", "state", "gpu", "temp", "alerts")
        table.focus()
        for state in generated:
            t0 = time.perf_counter()
            row = table.cursor_row
            table.clear()
            table.add_rows(
                [
                    (
                        Text(n.name),
                        Text("up"),
                        Text(f"{n.gpus[0].util}%"),
                        Text(f"{max(g.temp_c for g in n.gpus)}"),
                        Text("—"),
                    )
                    for n in state.nodes.values()
                ]
            )
            table.move_cursor(row=row)
            await pilot.pause()
            out.pilot_applies.append((time.perf_counter() - t0) * 1000)
            out.applies.append(clock.since(t0))
            before = table.cursor_row
            t0 = time.perf_counter()
            await pilot.press("down")
            assert table.cursor_row == before + 1
            out.pilot_keys.append((time.perf_counter() - t0) * 1000)
            out.keys.append(clock.since(t0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    profile = loads(profile_text(args.nodes), "big.toml")
    asyncio.run(idle_baseline())
    ours = asyncio.run(bench_fleetdeck(profile, states(profile.model, args.rounds)))
    naive = asyncio.run(bench_naive(states(profile.model, args.rounds)))
    print(f"{args.nodes} nodes, {args.rounds} refreshes, every node changed each refresh\n")
    print(f"{'to the frame':28} {'refresh apply (ms)':>24} {'keypress→update (ms)':>24}")
    print(f"{'':28} {'median':>11} {'p95':>11} {'median':>11} {'p95':>11}")
    rows = (("fleetdeck fleet screen", ours), ("DataTable rebuilt each time", naive))
    for label, f in rows:
        print(
            f"{label:28} {statistics.median(f.applies):11.1f} {pct(f.applies, 95):11.1f} "
            f"{statistics.median(f.keys):11.1f} {pct(f.keys, 95):11.1f}"
        )
    print("\nto Pilot's pause() returning")
    for label, f in rows:
        print(
            f"{label:28} {statistics.median(f.pilot_applies):11.1f} "
            f"{pct(f.pilot_applies, 95):11.1f} {statistics.median(f.pilot_keys):11.1f} "
            f"{pct(f.pilot_keys, 95):11.1f}"
        )
    print(f"{'an idle app':28} {IDLE['pause']:11.1f} {'':11} {IDLE['press']:11.1f}")
    print("\ntargets: refresh apply < 50 ms; keypress p95 < 100 ms")


if __name__ == "__main__":
    main()
