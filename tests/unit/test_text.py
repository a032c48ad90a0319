"""Control characters from outside never reach the terminal as such."""

from __future__ import annotations

from actions.engine import Event
from actions.report import event_line
from console.text import printable, printable_tree


def test_control_characters_are_shown_not_sent():
    assert printable("ok\ttabs\nand lines") == "ok\ttabs\nand lines"
    assert printable("\x1b[2Jwiped") == "\\x1b[2Jwiped"
    assert printable("csi \x9b31m bell \x07 del \x7f") == "csi \\x9b31m bell \\x07 del \\x7f"
    assert printable("ünïcode · ✓") == "ünïcode · ✓"
    tree = printable_tree({"Names": ["/node\x1b]0;owned\x07"], "n": 3})
    assert tree == {"Names": ["/node\\x1b]0;owned\\x07"], "n": 3}


def test_run_output_lines_from_a_node_are_printable():
    line = event_line(Event("line", "r1", "net", "images", text="pull \x1b[2J\x1b[31mdone"))
    assert line is not None and "\x1b" not in line and "\\x1b[2J" in line
