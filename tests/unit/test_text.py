"""Control characters from outside never reach the terminal as such."""

from __future__ import annotations

import json

from actions.engine import Event
from actions.report import event_line
from console.core.text import printable, printable_json, printable_tree


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


def test_json_from_outside_is_made_printable_as_walked_whatever_its_bytes_hold():
    """printable_json skips the walk only where the bytes cannot hold a control character:
    every way one can arrive (an escape, raw DEL, raw UTF-8 of C1 or bidi controls) is
    walked, and the answer is the walk's own."""
    texts = [
        b'{"name": "gpu-0", "n": 3, "list": ["a", {"b": null}]}',
        b'{"name": "\\u001b[2Jwiped"}',  # an escaped ESC
        b'{"name": "csi \\u009b31m"}',  # an escaped C1 control
        b'{"\\u202ekey": "x"}',  # an escaped bidi control, in a key
        b'{"name": "del \x7f"}',  # DEL: the one control JSON allows raw
        '{"name": "csi \x9b31m", "rtl": "gpu-7\u202e1-lm"}'.encode(),  # raw UTF-8 controls
        '{"name": "ünïcode · ✓", "q": "a \\"quote\\""}'.encode(),
        b'["a", "\\u0007"]',
    ]
    for raw in texts:
        assert printable_json(raw) == printable_tree(json.loads(raw)), raw
    assert printable_json(texts[1]) == {"name": "\\x1b[2Jwiped"}
    assert printable_json(texts[4]) == {"name": "del \\x7f"}
    assert printable_json(texts[5])["rtl"] == "gpu-7\\u202e1-lm"


def test_a_clean_json_object_is_not_walked_again():
    seen = printable_json(b'{"gpus": [{"name": "H100"}], "t": 1.5}')
    assert printable_tree(seen) is seen  # a reading of it takes it as it is
    walked = printable_json(b'{"name": "\\u001b"}')
    assert printable_tree(walked) is not walked  # an object that was walked, is walked
