"""Text boxes that let go of keys typed after they closed.

Textual hands each key to the widget focused when the key arrives, and resolves bindings
only when the key has bubbled up to the app. Keys typed together ("esc q": close the
filter, quit) therefore all reach the box, and the box would swallow the q as text before
the esc's binding moved the focus away. This box moves the focus itself, at once, when esc
or enter closes it, and passes on any key that comes after: it acts where the operator is.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FieldInput(Input):
    def __init__(self, *args, leave_to: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.leave_to = leave_to  # the widget (selector) the focus returns to; None: stays

    async def _on_key(self, event: events.Key) -> None:
        # (Textual then runs Input's own _on_key, which types the key, unless prevented)
        if self.screen.focused is not self:  # (has_focus follows a moment later)
            event.prevent_default()  # typed after the box closed: it bubbles to the bindings
            return  # of where the focus is now
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            await self.action_submit()
            self._leave()
        elif event.key == "escape":
            self._leave()  # the esc itself goes on to the screen's binding

    def _leave(self) -> None:
        if self.leave_to:
            self.screen.set_focus(self.screen.query_one(self.leave_to))
