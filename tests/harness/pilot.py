"""Driving the console under Textual's Pilot: waiting for what a screen will show."""

from __future__ import annotations


async def until(pilot, predicate, seconds: float = 15.0, step: float = 0.1) -> bool:
    """Whether `predicate()` became true within `seconds`, the app running meanwhile."""
    for _ in range(int(seconds / step)):
        if predicate():
            return True
        await pilot.pause(step)
    return predicate()
