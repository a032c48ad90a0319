"""Text from outside (profiles, nodes, remote output) made safe for a terminal.

Markup is already never parsed (screens build `Text`); this is the other half: control
characters. An ESC from a container name or a log line would reach the terminal as an
escape sequence (`\\x1b[2J` clears the screen), so each control character is shown as a
visible escape instead (`\\x1b`), as `cat -v` would show it.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 controls but tab and newline, DEL, and the C1 controls (U+0080-U+009F, CSI among them),
# which a terminal obeys; and the Unicode bidirectional controls (U+202E reverses what
# follows it on screen: a name can be made to read as another)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with each control character written as a visible escape."""
    if text.isprintable() or not _CONTROL.search(text):  # the first: C speed, most text
        return text
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_PLAIN = (int, float, bool, type(None))  # JSON's leaves that are no text


class _Seen(dict):
    """A decoded JSON object whose text could hold no control character (printable_json)."""


def printable_json(raw: bytes) -> Any:
    """JSON text from outside, decoded, every string in it printable. JSON allows no raw
    control character in a string but DEL, so text of printable ASCII without a backslash
    (no escape) cannot hold one: such an object is not walked again (a probe line's walk
    cost twice its decoding), here or by printable_tree."""
    value = json.loads(raw)
    if raw.isascii() and b"\\" not in raw and b"\x7f" not in raw:
        return _Seen(value) if type(value) is dict else value
    return printable_tree(value)


def printable_tree(value: Any) -> Any:
    """Every string in a decoded JSON value made printable (keys too). Numbers are passed
    over in place: a 3,000-node reading is mostly numbers, and a call each cost seconds."""
    if type(value) is _Seen:
        return value
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {
            printable(k) if isinstance(k, str) else k: v
            if isinstance(v, _PLAIN)
            else printable_tree(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [v if isinstance(v, _PLAIN) else printable_tree(v) for v in value]
    return value


def has_control(text: str) -> bool:
    return bool(_CONTROL.search(text))
