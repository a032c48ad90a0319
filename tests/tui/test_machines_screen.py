"""The cloud machines screen: worst first, the cloud's words as plain text."""

from __future__ import annotations

from screens.machines import machines_text


def test_worst_first_and_the_clouds_words_are_never_markup():
    rows = [
        ("ok", "c1-ml1: i-0a (running, 54.0.0.1, pool ml)"),
        ("orphan", "i-0b [bold]tagged[/] c1-ml9 [@click=app.quit]x[/]"),
        ("missing", "c1-ml3: not made yet"),
        ("gone", "c1-ml2: i-0c is terminated or missing"),
    ]
    text = machines_text("fleet", rows)
    lines = text.plain.splitlines()
    assert lines[0] == "1 orphan, 1 gone, 1 missing, 1 ok"
    kinds = [line.split()[1] for line in lines[2:6]]
    assert kinds == ["orphan", "gone", "missing", "ok"]
    assert "[bold]tagged[/] c1-ml9 [@click=app.quit]x[/]" in text.plain  # literal
    assert not any("@click" in str(span.style) for span in text.spans)
    assert "provision destroy" in text.plain
    assert "provision destroy" not in machines_text("f", [("ok", "x")]).plain
