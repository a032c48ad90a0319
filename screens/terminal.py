"""Keys as the operator typed them: an escape followed at once by a key is two keys.

A terminal sends Esc as the byte ESC, and Alt+j as ESC j. Textual's parser reads ESC and a
printable key that arrive together as Alt+key, and drops the ESC before a key that is not a
letter or digit (ESC / is read as /). Under tmux, whose `escape-time` holds an ESC up to
half a second to join it with the next key, "esc, then j" to leave a screen and move down
is therefore read as Alt+j, and "esc, then /" as a / on the screen being closed. fleetdeck
binds no Alt keys, so here ESC + a printable key is what the operator typed: Esc, then it.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events

_installed = False


def install() -> None:
    """Read ESC + printable key as two keys in every Textual parser of this process."""
    global _installed  # noqa: PLW0603 - once per process
    if _installed:
        return
    try:
        from textual._xterm_parser import XTermParser  # noqa: PLC0415 - private, guarded
    except ImportError:  # a Textual without this parser: its own reading stands
        return
    original = getattr(XTermParser, "_sequence_to_key_events", None)
    if original is None:
        return

    def split_escape(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        if alt and len(sequence) == 1 and sequence.isprintable():
            yield events.Key("escape", "\x1b")
            yield from original(self, sequence)
            return
        yield from original(self, sequence, alt)

    XTermParser._sequence_to_key_events = split_escape
    _installed = True
