"""The console on a 1,000-node fleet refreshing every second, headless.

Run:  .venv/bin/python tests/bench/bench_console.py [--nodes 1000] [--rounds 20]

It drives the real app (Pilot, 160×50) with generated fleet states in which every node's
values change every round (each state built when it is needed, so that only one is alive,
as in the console), and prints:
- refresh apply: the time for the fleet screen to take one full new state (all rows);
- keypress-to-update: from a cursor key to the screen having moved (median, p95);
beside the same figures for a plain DataTable rebuilt from scratch each round (clear +
add_rows), the obvious way to write it. Targets: refresh apply under 50 ms, keypress p95
under 100 ms.

Pilot waits for the app to go idle in sleeps of 20 ms or more, so every figure contains at
least one such sleep. An idle `pause()` and an idle keypress are timed in the same run and
printed; "net" is the figure less that baseline: what the app itself spent.
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

from console.app import FleetdeckApp  # noqa: E402
from console.profile import loads  # noqa: E402
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
    that only the current state is alive, as in the running console."""
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
        yield state_of(fleet, nodes)


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


async def bench_fleetdeck(profile, generated) -> tuple[list[float], list[float]]:
    app = FleetdeckApp(profile, live=False)
    applies, keys = [], []
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one("#nodes", DataTable)
        for state in generated:
            t0 = time.perf_counter()
            screen.show(state)
            await pilot.pause()  # until the screen has processed the update and repainted
            applies.append((time.perf_counter() - t0) * 1000)
            before = table.cursor_row
            t0 = time.perf_counter()
            await pilot.press("down")
            assert table.cursor_row == before + 1
            keys.append((time.perf_counter() - t0) * 1000)
    return applies, keys


class Naive(App[None]):
    def compose(self):
        yield DataTable()


async def bench_naive(generated) -> tuple[list[float], list[float]]:
    app = Naive()
    applies, keys = [], []
    async with app.run_test(size=(160, 50)) as pilot:
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
            applies.append((time.perf_counter() - t0) * 1000)
            before = table.cursor_row
            t0 = time.perf_counter()
            await pilot.press("down")
            assert table.cursor_row == before + 1
            keys.append((time.perf_counter() - t0) * 1000)
    return applies, keys


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
    print(f"{'':28} {'refresh apply (ms)':>24} {'keypress→update (ms)':>24}")
    print(f"{'':28} {'median':>11} {'p95':>11} {'median':>11} {'p95':>11}")
    for label, (applies, keys) in (
        ("fleetdeck fleet screen", ours),
        ("DataTable rebuilt each time", naive),
    ):
        print(
            f"{label:28} {statistics.median(applies):11.1f} {pct(applies, 95):11.1f} "
            f"{statistics.median(keys):11.1f} {pct(keys, 95):11.1f}"
        )
    print(f"\nPilot on an idle app: pause {IDLE['pause']:.1f} ms, keypress {IDLE['press']:.1f} ms")
    applies, keys = ours
    print(
        f"fleetdeck net of that: refresh apply median "
        f"{statistics.median(applies) - IDLE['pause']:.1f} ms, p95 "
        f"{pct(applies, 95) - IDLE['pause']:.1f} ms; keypress p95 "
        f"{pct(keys, 95) - IDLE['press']:.1f} ms"
    )
    print("targets: refresh apply < 50 ms; keypress p95 < 100 ms")


if __name__ == "__main__":
    main()
