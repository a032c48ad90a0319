"""The command palette (ctrl+p): Textual's, made safe against keys that arrive before its
list has been laid out (PageUp/PageDown then raised KeyError: 0 in OptionList._move_page,
ending the console)."""

from __future__ import annotations

import contextlib

from textual.command import CommandPalette


class Palette(CommandPalette):
    def _action_command_list(self, action: str) -> None:
        # a list with no lines yet has nothing to move through
        with contextlib.suppress(KeyError, IndexError):
            super()._action_command_list(action)
