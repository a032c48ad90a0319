"""Driving the console under Textual's Pilot: waiting for what a screen will show.

Tests wait on conditions (a state drawn, a screen pushed, a worker's text shown), never on
fixed sleeps: a loaded machine then only makes a test slower, never red, and an idle one
does not pay for the worst case. `pilot.pause()` without a delay is itself such a wait: the
screen's pending messages processed and the event loop idle.
"""

from __future__ import annotations

from collections.abc import Callable

WAIT_S = 30.0  # the most a condition may take; only a broken console reaches it


async def until(pilot, predicate: Callable[[], object], seconds: float = WAIT_S, step=0.05):
    """Whether `predicate()` became true within `seconds`, the app running meanwhile."""
    for _ in range(int(seconds / step)):
        if predicate():
            return True
        await pilot.pause(step)
    return bool(predicate())


async def wait_for(pilot, predicate: Callable[[], object], what: str, seconds: float = WAIT_S):
    """Wait until `predicate()` holds, then until the app is idle; fail naming `what`."""
    if not await until(pilot, predicate, seconds):
        raise AssertionError(f"waited {seconds:.0f} s for {what}")
    await pilot.pause()


async def workers_done(pilot) -> None:
    """Every worker the app started has finished (a journal read or write, a plan)."""
    app = pilot.app
    await wait_for(pilot, lambda: not any(w.is_running for w in app.workers), "the workers")


async def drawn(pilot) -> None:
    """The screen on top has shown a fleet state (the console's first one, or the next)."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: app.last_state is not None and getattr(app.screen, "state", None) is not None,
        f"a fleet state drawn on {type(app.screen).__name__}",
    )


async def refreshed(pilot) -> None:
    """The console has taken a state from its source and shown it since this call (the
    source may hand the same state again: the refresh is counted, not the state compared)."""
    app = pilot.app
    shown: list[object] = []
    apply_state = app.apply_state

    def counted(state) -> None:
        apply_state(state)
        shown.append(state)

    app.apply_state = counted
    try:
        await wait_for(pilot, lambda: shown, "the next fleet state")
    finally:
        del app.apply_state


async def on(pilot, kind: type | str):
    """The screen of `kind` (a class or its name) on top, mounted and idle; it is returned."""
    app = pilot.app

    def there() -> bool:
        screen = app.screen
        named = type(screen).__name__ == kind if isinstance(kind, str) else isinstance(screen, kind)
        return named and screen.is_mounted

    name = kind if isinstance(kind, str) else kind.__name__
    await wait_for(pilot, there, f"the {name} on top (found {type(app.screen).__name__})")
    return app.screen


async def off(pilot, screen) -> None:
    """`screen` is no longer the one on top (dismissed, or another pushed over it)."""
    await wait_for(pilot, lambda: pilot.app.screen is not screen, f"{type(screen).__name__} gone")


async def press_to(pilot, *keys: str, kind: type | str):
    """Press `keys`, then wait for the screen of `kind` on top; it is returned."""
    await pilot.press(*keys)
    return await on(pilot, kind)
