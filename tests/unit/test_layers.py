"""DESIGN's seams, checked: screens and the core name no stack outside the stack registry
(console/core/stacks/) and the stacks' own action modules (actions/stacks/)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STACK_WORD = re.compile(r"gonka|ollama|vllm", re.IGNORECASE)
# the simulator emulates the stacks themselves (their chain, their APIs): it must name them
EMULATORS = ("console/sim/",)
# the app and the CLI offer the stacks by name; controllers and setup ask the registry
TOP_NAMING = ("console/app/tui.py", "console/app/entry.py", "console/app/cli/")
# core modules allowed to name a stack for now (none: keep it so; a module listed here
# that no longer names one fails the test, so that the list only shrinks)
NOT_YET_MOVED: tuple[str, ...] = ()


def modules() -> list[str]:
    out = []
    for base in ("console", "screens"):
        for path in sorted((REPO / base).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith("console/core/stacks/") or rel.startswith(EMULATORS):
                continue
            if rel.startswith(TOP_NAMING):
                continue
            out.append(rel)
    return out


def test_no_screen_or_core_module_names_a_stack():
    naming = {
        rel: sorted({m.group().lower() for m in STACK_WORD.finditer((REPO / rel).read_text())})
        for rel in modules()
    }
    offenders = {rel: words for rel, words in naming.items() if words and rel not in NOT_YET_MOVED}
    assert offenders == {}, "ask console.core.stacks (STACKS, stack_of) instead: " + repr(offenders)
    cleaned = [rel for rel in NOT_YET_MOVED if not naming.get(rel)]
    assert cleaned == [], f"no longer names a stack: take it off NOT_YET_MOVED: {cleaned}"


def test_screens_ask_the_registry_not_a_stacks_module():
    for path in sorted((REPO / "screens").glob("*.py")):
        text = path.read_text()
        assert not re.search(r"(console\.core|actions)\.stacks\.\w+", text), path.name


def test_the_app_and_each_cli_module_stay_thin():
    """The app wires, the CLI parses: errands live in controllers and actions."""
    thin = [REPO / "console/app/tui.py", *sorted((REPO / "console/app/cli").glob("*.py"))]
    long = {p.name: n for p in thin if (n := len(p.read_text().splitlines())) >= 300}
    assert long == {}, "move the errand into a controller (console/app/controllers/) or a module"
