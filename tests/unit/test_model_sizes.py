"""The room a model needs on disk, before it is fetched: its tier's VRAM where the profile
gives one, else its parameters as its name counts them times their width."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from actions.stacks.ollama import BYTES_PER_PARAMETER
from actions.stacks.weights import DISK_HEADROOM_GB, model_size_gb, space_needed_gb
from console.core.profile import loads

PROFILE = """
[fleet]
name = "f"
stack = "vllm"

[models."Qwen/Qwen3-235B-A22B-FP8"]
vram_gb = 320

[[clusters]]
name = "c"

[[clusters.nodes]]
name = "a"
host = "10.0.0.1"
role = "server"
"""


@pytest.fixture
def ctx():
    return SimpleNamespace(profile=loads(PROFILE).model)


@pytest.mark.parametrize(
    ("model", "width", "size"),
    [
        ("Qwen/Qwen3-235B-A22B-FP8", 2.0, 320),  # the profile's tier wins
        ("Qwen/Qwen3-235B-A22B", 2.0, 470),  # bf16: the first count, not the active 22B
        ("Qwen/Qwen3-32B-FP8", 2.0, 32),
        ("Qwen/Qwen2.5-7B-Instruct-AWQ", 2.0, 3.5),
        ("qwen3:235b", BYTES_PER_PARAMETER, 141),  # Ollama's default tag is 4-bit
        ("llama3.1:8b", BYTES_PER_PARAMETER, 4.8),  # 3.1 is a version, not a size
        ("deepseek-r1:1.5b", BYTES_PER_PARAMETER, 0.9),
        ("bge-m3", 2.0, None),
    ],
)
def test_a_models_size_comes_from_its_tier_or_its_name(ctx, model, width, size):
    got = model_size_gb(ctx, model, width)
    assert got == pytest.approx(size) if size is not None else got is None


def test_only_the_models_to_come_ask_for_room(ctx):
    assert space_needed_gb(ctx, []) == DISK_HEADROOM_GB
    both = space_needed_gb(ctx, ["Qwen/Qwen3-235B-A22B-FP8", "bge-m3"])
    assert both == DISK_HEADROOM_GB + 320  # a size unknown counts nothing (and is said)
