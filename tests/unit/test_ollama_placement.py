"""Where Ollama's loaded models run, read from /api/ps (size_vram against size)."""

from __future__ import annotations

import httpx

from console.core.stacks.ollama_status import placement


class Http:
    def __init__(self, status: int, body) -> None:
        self.response = httpx.Response(status, json=body)

    def get(self, port, path):
        assert (port, path) == (11434, "/api/ps")
        return self.response


def test_a_model_partly_in_system_memory_is_said_with_its_share():
    body = {
        "models": [
            {"name": "llama3.1:8b", "size": 4_920_000_000, "size_vram": 1_869_600_000},
            {"name": "qwen2.5:32b", "size": 19_850_000_000, "size_vram": 19_850_000_000},
        ]
    }
    s = placement(Http(200, body), 11434)
    assert s is not None and not s.ok and s.kind == "placement"
    assert s.detail == "llama3.1:8b: 62 % on the CPU (1.9 of 4.9 GB in GPU memory)"


def test_all_on_the_gpu_nothing_loaded_or_an_unreadable_answer():
    on_gpu = {"models": [{"name": "m", "size": 10, "size_vram": 10}]}
    assert placement(Http(200, on_gpu), 11434).ok
    assert placement(Http(200, {"models": []}), 11434).ok
    assert placement(Http(404, {"error": "not found"}), 11434) is None  # an older Ollama
    odd = {"models": ["x", {"name": "m", "size": "big", "size_vram": None}]}
    assert placement(Http(200, odd), 11434).ok  # not Ollama's shape: nothing claimed
