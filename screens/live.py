"""The live-screen contract: a screen that shows the fleet as it is now. The app hands the
screen on top each new state (and the last one when a screen above it closes), only where
the screen says it is one; no other screen is asked."""

from __future__ import annotations

from textual.screen import Screen

from console.core.state import FleetState


class LiveScreen(Screen[None]):
    def show(self, state: FleetState) -> None:
        """Take a new fleet state and draw what changed."""
        raise NotImplementedError
