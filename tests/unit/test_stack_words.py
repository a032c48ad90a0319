"""Fitness: what is one stack's stays in that stack's files (issue 29). Outside
console/core/stacks/, actions/stacks/ and the simulator (which emulates the stacks), no
module says a stack's role as a value ("network", "ml", …), its container names as values,
Gonka's `PoC` or `admin API`, or `golem`. The modules that still do are listed with their
words, and the list may only shrink: a module not on it that plants one fails, and so does a
listed module that no longer says it (take it off)."""

from __future__ import annotations

import re

from console.core.stacks import STACKS
from tests.harness.fitness import misplaced

OWN = ("console/core/stacks/", "actions/stacks/", "actions/registry.py", "console/sim/")
# words every module uses in their plain sense (a table's "node" column, a kubeconfig's
# "server", an API): a stack's container or role of that name is not told apart from them
PLAIN = {"node", "api", "server"}
ROLES = sorted({r for s in STACKS.values() for r in s.roles} - PLAIN)
CONTAINERS = sorted(
    (
        {c for s in STACKS.values() for _, names in s.containers for c in names}
        | {c for s in STACKS.values() for _, names in s.optional_containers for c in names}
        | {c for s in STACKS.values() for c in s.model_containers}
    )
    - PLAIN
)
QUOTED = "|".join(re.escape(w) for w in [*ROLES, *CONTAINERS])
WORDS = re.compile(rf"""(?P<value>["']({QUOTED})["'])|(?P<word>\bPoC\b|admin API|\b[Gg]olem)""")
# what is left to move into the stacks' own files (nothing, since issue 29: the list stays
# for a word that must wait for its move, with the move filed)
NOT_YET_MOVED: dict[str, set[str]] = {}
# the same word in another sense: a module's own field of that name
NOT_A_STACK_WORD: dict[str, set[str]] = {
    "console/core/profile/pools.py": {'"network"'},  # an Azure pool's virtual network field
}


def said(text: str) -> set[str]:
    return {m.group("value") or m.group("word") for m in WORDS.finditer(text)}


def test_no_stack_word_outside_the_stacks_files_but_those_not_moved_yet():
    planted, moved = misplaced(OWN, said, NOT_YET_MOVED, NOT_A_STACK_WORD)
    assert planted == {}, "a stack's word outside its files: ask its adapter (STACKS)"
    assert moved == {}, "no longer said there: take it off NOT_YET_MOVED"


def test_a_planted_word_is_found():
    assert said('if node.role == "network":') == {'"network"'}
    assert said("disable it before the next PoC") == {"PoC"}
    assert said('c = containers.get("mlnode-308")') == {'"mlnode-308"'}
    assert said("the network is slow; a poc") == set()  # prose, not a value or the term
    assert said("golemsp status") == {"golem"}
