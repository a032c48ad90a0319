"""The fleet table's filter and sort language (screens/fleet_query.py), as pure functions."""

from __future__ import annotations

from rich.text import Text

from screens.fleet_query import bad_terms, matches, natural, sort_value

NODE = {"role": "ml", "cluster": "cluster1", "stack": "gonka", "state": "degraded"}
FIELDS = ["c1-ml2", "10.0.0.12", "ml", "cluster1", "Qwen/Qwen3-32B-FP8", "region=eu-west"]


def value_of(key: str) -> str | None:
    return {**NODE, "region": "eu-west"}.get(key)


def test_keyed_terms_match_their_value_from_its_start_in_any_case():
    assert matches("role:ml state:DEG", FIELDS, value_of)
    assert matches("region:eu", FIELDS, value_of)
    assert not matches("role:network", FIELDS, value_of)
    assert not matches("state:up", FIELDS, value_of)


def test_free_terms_are_regular_expressions_or_plain_text_over_the_fields():
    assert matches("ml[0-9]", FIELDS, value_of) and matches("qwen3", FIELDS, value_of)
    assert matches("c1-ml2 32B", FIELDS, value_of)  # every term must match
    assert not matches("c1-ml2 70B", FIELDS, value_of)
    assert matches("(fp8", ["Qwen3-32B-(FP8"], value_of)  # no regex: plain text
    assert bad_terms("(fp8 role:( ml.") == ["(fp8"]
    # a key the node has no value for is a free term
    assert matches("gpu:h100", ["gpu:H100"], value_of)


def test_states_and_alerts_sort_worst_first_numbers_by_value_names_naturally():
    states = ["● up", "✕ stale 37s", "KEY CHANGED", "● degraded", "✕ down since 08:00"]
    cells = [Text(s, style="red" if "degraded" in s else "") for s in states]
    ordered = [c.plain for c in sorted(cells, key=lambda c: sort_value("state", c))]
    assert ordered == ["KEY CHANGED", "✕ down since 08:00", "✕ stale 37s", "● degraded", "● up"]
    alerts = [Text("1 x", style="yellow"), Text("3 y", style="bold red"), Text("—")]
    assert [a.plain for a in sorted(alerts, key=lambda a: sort_value("alerts", a))] == [
        "3 y",
        "1 x",
        "—",
    ]
    assert sort_value("temp", Text("92°C")) > sort_value("temp", Text("61°C"))
    assert sorted(["gpu-10", "gpu-2", "gpu-1"], key=natural) == ["gpu-1", "gpu-2", "gpu-10"]
