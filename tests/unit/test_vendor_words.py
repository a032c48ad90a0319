"""Fitness: what is one accelerator vendor's stays in that vendor's adapter (issue 30).
Outside console/core/accelerators/<vendor>*.py and the simulator (which emulates the
vendors' tools), no module names NVIDIA, its libraries (NVML, DCGM), its kernel driver's
words (NVRM) or its events (Xids). The modules that still do are listed with their words,
and the list may only shrink: a module not on it that plants one fails, and so does a
listed module that no longer says it (take it off)."""

from __future__ import annotations

import re

from console.core.accelerators import ACCELERATORS
from tests.harness.fitness import misplaced

ADAPTERS = tuple(f"console/core/accelerators/{name}" for name in ACCELERATORS)
OWN = (*ADAPTERS, "console/core/accelerators/__init__.py", "console/sim/")  # and the registry
WORDS = re.compile(r"(?i:nvidia|nvml|dcgm|\bnvrm\b)|\b[Xx]ids?\b")
# what is left to move into the vendors' adapters (nothing, since issue 30: the list stays
# for a word that must wait for its move, with the move filed)
NOT_YET_MOVED: dict[str, set[str]] = {}
# the same word in another sense: a name another system gave it
NOT_A_VENDOR_WORD: dict[str, set[str]] = {
    "console/core/profile/schema.py": {"xids"},  # [trust]'s old name of a signal
    "console/core/stacks/gonka_metrics.py": {"xid"},  # a label of Gonka's ML node series
    "console/core/stacks/golem.py": {"nvidia"},  # Golem's runtime `vm-nvidia`
    "actions/stacks/golem.py": {"nvidia"},  # the same runtime, deployed
    # Gonka's ML node image is CUDA's: the stack names the adapter its devices are (GPUS)
    "console/core/stacks/gonka.py": {"nvidia"},
}


def said(text: str) -> set[str]:
    return {m.group(0).lower() for m in WORDS.finditer(text)}


def test_no_vendor_word_outside_its_adapter_but_those_not_moved_yet():
    planted, moved = misplaced(OWN, said, NOT_YET_MOVED, NOT_A_VENDOR_WORD)
    assert planted == {}, "a vendor's word outside its adapter: ask the adapter (ACCELERATORS)"
    assert moved == {}, "no longer said there: take it off NOT_YET_MOVED"


def test_a_planted_word_is_found():
    assert said("run nvidia-smi -L") == {"nvidia"}
    assert said("Xid 79 on GPU 3") == {"xid"}
    assert said('labels.get("xid")') == {"xid"}
    assert said("DCGM_FI_DEV_GPU_TEMP and pynvml") == {"dcgm", "nvml"}
    assert said("mlnode_gpu_xid_events_total, a gpu's temperature") == set()
