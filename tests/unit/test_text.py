"""Control characters from outside never reach the terminal as such."""

from __future__ import annotations

from actions.engine import Event
from actions.report import event_line
from console.core.text import printable, printable_tree


def test_control_characters_are_shown_not_sent():
    assert printable("ok\ttabs\nand lines") == "ok\ttabs\nand lines"
    assert printable("\x1b[2Jwiped") == "\\x1b[2Jwiped"
    assert printable("csi \x9b31m bell \x07 del \x7f") == "csi \\x9b31m bell \\x07 del \\x7f"
    assert printable("ünïcode · ✓") == "ünïcode · ✓"
    tree = printable_tree({"Names": ["/node\x1b]0;owned\x07"], "n": 3})
    assert tree == {"Names": ["/node\\x1b]0;owned\\x07"], "n": 3}


def test_bidirectional_controls_are_shown_not_obeyed():
    # U+202E on screen would make "gpu-7\u202e1-lm" read as "gpu-7ml-1"
    assert printable("gpu-7\u202e1-lm") == "gpu-7\\u202e1-lm"
    hidden = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069"
    assert printable(hidden).count("\\u") == len(hidden)
    assert printable("עברית and العربية") == "עברית and العربية"  # right-to-left text is text


def test_run_output_lines_from_a_node_are_printable():
    line = event_line(Event("line", "r1", "net", "images", text="pull \x1b[2J\x1b[31mdone"))
    assert line is not None and "\x1b" not in line and "\\x1b[2J" in line
