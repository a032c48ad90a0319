"""Esc followed at once by a key (as tmux's escape-time delivers it) is two keys."""

from __future__ import annotations

from textual._xterm_parser import XTermParser

from screens import terminal


def keys(data: str) -> list[str]:
    parser = XTermParser()
    return [e.key for e in [*parser.feed(data), *parser.feed("")] if hasattr(e, "key")]


def test_escape_then_a_key_is_two_keys_and_real_sequences_stay_whole():
    terminal.install()
    assert keys("\x1bj") == ["escape", "j"]  # leave the node screen, then move down
    assert keys("\x1b/") == ["escape", "slash"]  # not a / on the screen being closed
    assert keys("\x1bG") == ["escape", "G"]
    assert keys("\x1b") == ["escape"]
    assert keys("\x1b[A") == ["up"]  # an arrow key is still one key
    assert keys("\x1bOB") == ["down"]
    assert keys("\x1b[1;5C") == ["ctrl+right"]
