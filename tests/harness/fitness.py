"""Fitness tests' common part: which product modules say words that belong elsewhere (a
stack's, a vendor's), against a list of those not moved yet that may only shrink."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def modules(own: tuple[str, ...]) -> list[Path]:
    """The product's modules but those whose words they are (`own`: path prefixes)."""
    out = []
    for base in ("console", "screens", "actions"):
        for path in sorted((REPO / base).rglob("*.py")):
            if not path.relative_to(REPO).as_posix().startswith(own):
                out.append(path)
    return out


def misplaced(
    own: tuple[str, ...],
    said: Callable[[str], set[str]],
    not_yet_moved: dict[str, set[str]],
    not_the_word: dict[str, set[str]],
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(words planted where no list allows them, listed words no longer said there)."""
    found = {}
    for path in modules(own):
        words = said(path.read_text())
        if words:
            found[path.relative_to(REPO).as_posix()] = words
    allowed = {m: not_yet_moved.get(m, set()) | not_the_word.get(m, set()) for m in found}
    planted = {m: w - allowed[m] for m, w in found.items()}
    moved = {m: w - found.get(m, set()) for m, w in not_yet_moved.items()}
    return {m: w for m, w in planted.items() if w}, {m: w for m, w in moved.items() if w}
