"""The Prometheus text exposition format (0.0.4), read: `name{label="value",…} value [ts]`.

Enough of it for what exporters and federating endpoints serve: comments skipped, label
values unescaped (\\\\, \\", \\n), NaN and ±Inf taken. A line that does not parse is skipped,
counted: one exporter's bad line must not hide the rest of its samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse(text: str) -> tuple[list[Sample], int]:
    """(the samples, how many lines could not be read)."""
    out: list[Sample] = []
    bad = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.append(_sample(line))
        except ValueError:
            bad += 1
    return out, bad


def _sample(line: str) -> Sample:
    brace = line.find("{")
    space = line.find(" ")
    labels: dict[str, str] = {}
    if brace != -1 and (space == -1 or brace < space):
        name = line[:brace]
        rest = _labels(line, brace + 1, labels)
    else:
        if space == -1:
            raise ValueError("no value")
        name, rest = line[:space], line[space:]
    if not name:
        raise ValueError("no name")
    fields = rest.split()
    if not fields:
        raise ValueError("no value")
    return Sample(name, labels, _value(fields[0]))


def _labels(line: str, i: int, into: dict[str, str]) -> str:
    """Reads `a="x",b="y"}` from line[i:] into `into`; returns what follows the brace."""
    n = len(line)
    while i < n:
        while i < n and line[i] in " ,":
            i += 1
        if i < n and line[i] == "}":
            return line[i + 1 :]
        eq = line.find("=", i)
        if eq == -1 or eq + 1 >= n or line[eq + 1] != '"':
            raise ValueError("bad label")
        key = line[i:eq].strip()
        i = eq + 2
        chars = []
        while i < n and line[i] != '"':
            if line[i] == "\\" and i + 1 < n:
                nxt = line[i + 1]
                chars.append("\n" if nxt == "n" else nxt)
                i += 2
                continue
            chars.append(line[i])
            i += 1
        if i >= n:
            raise ValueError("unterminated label value")
        into[key] = "".join(chars)
        i += 1
    raise ValueError("unterminated labels")


def _value(text: str) -> float:
    low = text.lower()
    if low in ("+inf", "inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    return float(text)  # "NaN" parses; anything else raises ValueError


def label_int(text: str | None) -> int | None:
    """A label's integer value (a GPU index, an event's code), or None where it is not one."""
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
