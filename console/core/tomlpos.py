"""Source lines for paths in a TOML document.

tomlkit items carry no source positions, so schema errors could only name a dotted path.
This scanner walks the text once and maps each table, array-of-tables entry and key to the
line it starts on, so that `clusters[0].nodes[3].host` can be reported with its line.
Inline tables and arrays are located by the line of their key.
"""

from __future__ import annotations

import re

Path = tuple[str | int, ...]

_HEADER_RE = re.compile(r"^\s*(\[\[|\[)(?P<key>[^\]\[]+?)(\]\]|\])\s*(#.*)?$")
_BARE_RE = re.compile(r"[A-Za-z0-9_-]+")


def split_key(raw: str) -> list[str] | None:
    """Split a (possibly dotted, possibly quoted) TOML key; None when it is not a key."""
    parts: list[str] = []
    i, n = 0, len(raw)
    while True:
        while i < n and raw[i] in " \t":
            i += 1
        if i >= n:
            return None
        if raw[i] in "\"'":
            quote = raw[i]
            j = i + 1
            buf = []
            while j < n and raw[j] != quote:
                if quote == '"' and raw[j] == "\\" and j + 1 < n:
                    buf.append(raw[j + 1])
                    j += 2
                    continue
                buf.append(raw[j])
                j += 1
            if j >= n:
                return None
            parts.append("".join(buf))
            i = j + 1
        else:
            m = _BARE_RE.match(raw, i)
            if not m:
                return None
            parts.append(m.group())
            i = m.end()
        while i < n and raw[i] in " \t":
            i += 1
        if i >= n:
            return parts
        if raw[i] != ".":
            return None
        i += 1


def _key_before_equals(line: str) -> tuple[list[str], str] | None:
    """For `key = value`, return the key parts and the value text."""
    in_quote = ""
    for i, ch in enumerate(line):
        if in_quote:
            if ch == in_quote:
                in_quote = ""
        elif ch in "\"'":
            in_quote = ch
        elif ch == "=":
            parts = split_key(line[:i])
            return (parts, line[i + 1 :]) if parts else None
        elif ch == "#":
            return None
    return None


def _value_state(text: str, depth: int, ml_quote: str) -> tuple[int, str]:
    """Advance the multi-line state (bracket depth, open triple quote) over a value's text."""
    i, n = 0, len(text)
    while i < n:
        if ml_quote:
            end = text.find(ml_quote, i)
            if end < 0:
                return depth, ml_quote
            i = end + 3
            ml_quote = ""
            continue
        ch = text[i]
        if text.startswith('"""', i) or text.startswith("'''", i):
            ml_quote = text[i : i + 3]
            i += 3
            continue
        if ch in "\"'":
            end = text.find(ch, i + 1)
            while ch == '"' and end > 0 and text[end - 1] == "\\":
                end = text.find(ch, end + 1)
            i = n if end < 0 else end + 1
            continue
        if ch == "#":
            break
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        i += 1
    return max(depth, 0), ml_quote


def locate(text: str, duplicates: list[tuple[Path, int]] | None = None) -> dict[Path, int]:
    """Map every table, array-of-tables entry and key path to its 1-based line.

    Keys defined twice are appended to `duplicates` (path, line of the second definition).
    """
    lines: dict[Path, int] = {}
    aot_paths: set[tuple[str, ...]] = set()  # abstract paths declared with [[...]]
    aot_count: dict[Path, int] = {}  # concrete array path -> entries seen so far
    current: Path = ()
    depth, ml_quote = 0, ""

    def concrete(keys: list[str]) -> Path:
        path: list[str | int] = []
        abstract: list[str] = []
        for k in keys:
            path.append(k)
            abstract.append(k)
            if tuple(abstract) in aot_paths:
                count = aot_count.get(tuple(path), 0)
                if count:
                    path.append(count - 1)
        return tuple(path)

    for lineno, line in enumerate(text.splitlines(), start=1):
        if depth or ml_quote:
            depth, ml_quote = _value_state(line, depth, ml_quote)
            continue
        header = _HEADER_RE.match(line)
        if header:
            keys = split_key(header["key"])
            if not keys:
                continue
            if header.group(1) == "[[":
                aot_paths.add(tuple(keys))
                parent = concrete(keys[:-1]) + (keys[-1],)
                index = aot_count.get(parent, 0)
                aot_count[parent] = index + 1
                current = parent + (index,)
                lines.setdefault(parent, lineno)
            else:
                current = concrete(keys)
                for i in range(1, len(keys)):  # [a.b] implicitly opens a
                    lines.setdefault(concrete(keys[:i]), lineno)
            lines.setdefault(current, lineno)
            continue
        kv = _key_before_equals(line)
        if kv:
            keys, value = kv
            path = current
            for k in keys:
                path = path + (k,)
                lines.setdefault(path, lineno)
            if duplicates is not None and lines[path] != lineno:
                duplicates.append((path, lineno))
            depth, ml_quote = _value_state(value, 0, "")
    return lines


def line_of(index: dict[Path, int], path: Path) -> int | None:
    """The line of `path`, or of its nearest located ancestor."""
    p = tuple(path)
    while p:
        if p in index:
            return index[p]
        p = p[:-1]
    return None


def format_path(path: Path) -> str:
    """`("clusters", 0, "nodes", 3, "host")` -> `clusters[0].nodes[3].host`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _BARE_RE.fullmatch(part):
            out += f".{part}" if out else part
        else:
            quoted = '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
            out += f".{quoted}" if out else quoted
    return out
