"""Source lines for TOML paths."""

from __future__ import annotations

from console.core.tomlpos import format_path, line_of, locate, split_key

DOC = '''# top
[fleet]
name = "x"
[models."Qwen/Qwen3-32B-FP8"]
args = [
  "--a",
  "fake = 1",
]
desc = """
k = 3
[not.a.table]
"""
[[clusters]]
name = "c1"
[[clusters.nodes]]
name = "a"
labels = { region = "eu" }
[[clusters.nodes]]
name = "b"
[[clusters]]
name = "c2"
[[clusters.nodes]]
name = "c"
[clusters.labels]
x.y = 1
'''


def test_locates_tables_array_entries_and_keys():
    index = locate(DOC)
    assert index[("fleet", "name")] == 3
    assert index[("models", "Qwen/Qwen3-32B-FP8", "args")] == 5
    assert index[("models", "Qwen/Qwen3-32B-FP8", "desc")] == 9
    assert index[("clusters", 0, "nodes", 1, "name")] == 19
    assert index[("clusters", 1, "nodes", 0)] == 22
    assert index[("clusters", 1, "labels", "x", "y")] == 25


def test_multiline_values_are_not_read_as_keys_or_tables():
    index = locate(DOC)
    assert ("models", "Qwen/Qwen3-32B-FP8", "fake") not in index
    assert ("not",) not in index and ("k",) not in index


def test_line_of_falls_back_to_the_nearest_ancestor():
    index = locate(DOC)
    assert line_of(index, ("clusters", 0, "nodes", 0, "labels", "region")) == 17
    assert line_of(index, ("clusters", 0, "nodes", 1, "host")) == 18
    assert line_of(index, ("nothing",)) is None


def test_duplicate_keys_are_reported_with_the_second_line():
    dups: list = []
    locate("[a]\nx = 1\ny = 2\nx = 3\n", dups)
    assert dups == [(("a", "x"), 4)]


def test_split_and_format_keys():
    assert split_key('models."Qwen/Qwen3" . args') == ["models", "Qwen/Qwen3", "args"]
    assert split_key("'lit.eral'.b") == ["lit.eral", "b"]
    assert split_key("bad key") is None
    assert format_path(("clusters", 0, "nodes", 3, "host")) == "clusters[0].nodes[3].host"
    assert format_path(("models", "Qwen/Qwen3", "args")) == 'models."Qwen/Qwen3".args'
