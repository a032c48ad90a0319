"""The fleet table's filter and sort language, as pure functions: a filter is words (or
regular expressions) matched against a node's fields, and `key:value` terms matched against
one value each (role, state, cluster, stack, a label); a sort puts states and alerts worst
first, numbers by value and names naturally (gpu-2 before gpu-10)."""

from __future__ import annotations

import re
from collections.abc import Callable

from rich.text import Text

KEYED = ("role", "state", "cluster", "stack")  # with every label's name
# the state words, worst first (the cell's own words: console/core/rows.py)
STATE_RANK = ("KEY CHANGED", "down since", "✕ down", "stale", "degraded", "connecting", "waiting")


def is_regex(term: str) -> bool:
    try:
        re.compile(term)
    except re.error:
        return False
    return True


def bad_terms(query: str) -> list[str]:
    """The free terms of a filter that are no regular expression (matched as plain text)."""
    return [t for t in query.split() if ":" not in t and not is_regex(t)]


def matches(query: str, fields: list[str], value_of: Callable[[str], str | None]) -> bool:
    """Whether a node matches every term of `query`: a `key:value` term when `value_of(key)`
    knows the key (its value starts with `value`, any case), else a regular expression (or,
    not being one, plain text) found in one of `fields`."""
    for term in query.split():
        key, sep, want = term.partition(":")
        value = value_of(key) if sep else None
        if value is not None:
            if not value.lower().startswith(want.lower()):
                return False
            continue
        try:
            pattern = re.compile(term, re.IGNORECASE)
        except re.error:  # not a regex: a plain substring
            pattern = re.compile(re.escape(term), re.IGNORECASE)
        if not any(pattern.search(f) for f in fields):
            return False
    return True


def sort_value(key: str, cell: object) -> tuple:
    """How a cell sorts: states and alerts worst first, numbers by value (a GPU cell by its
    mean, not its sparkline), the rest as words; empty cells last."""
    text = (cell.plain if isinstance(cell, Text) else str(cell)).strip()
    style = str(cell.style) if isinstance(cell, Text) else ""
    if text in ("", "—"):
        return (9, 0.0, "")
    if key == "state":
        rank = next((i for i, w in enumerate(STATE_RANK) if w in text), len(STATE_RANK))
        if rank == STATE_RANK.index("degraded") and "red" in style:
            rank -= 0.5  # degraded by a critical alert before degraded by a warning
        return (0, rank, text)
    if key == "alerts":  # critical (red) before warnings, then by how many
        count = re.match(r"\d+", text)
        return (0 if "red" in style else 1, -int(count.group()) if count else 0, text)
    number = re.search(r"\d+(\.\d+)?", text)
    if number and key not in ("cluster", "node", "role", "model", "host"):
        return (0, float(number.group()), text)
    return (0, 0.0, text.lower())


def natural(name: str) -> list:
    """gpu-2 before gpu-10: numbers in a name compared as numbers."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name)]
