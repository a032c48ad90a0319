"""The Ollama stack, as the core sees it: GPU inference providers running Ollama on the
host as a systemd service (its API private on 127.0.0.1:11434), its settings, and the
runbook words of their alerts. Its deploy is actions/stacks/ollama.py."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from console.core.monitor.runbooks import Runbook
from console.core.schema import Port, ScriptUrl, Strict
from console.core.stacks.base import InferenceApi, Stack


def _duration(value: str) -> str:
    if not re.fullmatch(r"-1|\d+(\.\d+)?[smh]?", value):
        raise ValueError(f"{value!r} is not a keep-alive (5m, 30s, 1h, -1 for ever)")
    return value


class OllamaSettings(Strict):
    ollama_port: Port = 11434  # where Ollama's API answers on the node (127.0.0.1 only)
    ollama_version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "0.12.6"  # pinned
    # the official install script, or a mirror of it (it downloads the version it is told)
    ollama_install_url: ScriptUrl = "https://ollama.com/install.sh"
    # Ollama's own defaults: one request at a time, 512 waiting, models kept 5 minutes
    ollama_num_parallel: Annotated[int, Field(ge=1, le=1024)] = 1
    ollama_max_queue: Annotated[int, Field(ge=0, le=100_000)] = 512
    ollama_keep_alive: Annotated[str, AfterValidator(_duration)] = "5m"
    # a container on the node that must reach Ollama (a Golem provider, a gateway): with
    # Ollama on 127.0.0.1 only, it runs on the host's network (network_mode: host)
    ollama_provider_container: str | None = None


NOT_READ_YET: dict[str, str] = {}

GENERATE = InferenceApi(
    port_setting="ollama_port",
    path="/api/generate",
    body=lambda model, prompt, tokens: {
        "model": model,
        "prompt": prompt,
        "stream": False,
        "options": {"num_predict": tokens},
    },
    tokens=lambda answer: int(answer.get("eval_count") or 0),
)

OLLAMA = Stack(
    name="ollama",
    settings=OllamaSettings,
    key_prefix="ollama_",
    not_read_yet=NOT_READ_YET,
    roles=("provider",),
    private_ports=(11434,),
    description="Ollama GPU inference providers",
    containers=(("provider", ()),),  # Ollama runs on the host, as a systemd service
    inference=GENERATE,
    runbooks={
        "gpu_fallback": Runbook(
            "Model running on the CPU",
            "Ollama loaded a model partly or wholly into system memory: the GPU is missing "
            "(driver, container toolkit), busy with something else, or too small for the "
            "model. It still answers, tens of times slower: timeouts and a missed SLO follow, "
            "and nothing else says why.",
            (
                "the GPU vendor's tool on the node: the GPU is there, and what holds its memory",
                "ollama ps: the PROCESSOR column (100% GPU, or a CPU/GPU split)",
                "journalctl -u ollama: CUDA errors, 'offloaded N/M layers to GPU'",
            ),
            ("free the GPU or restart Ollama once it is back; pick a model for this VRAM tier",),
        ),
        "service_slow": Runbook(
            "Inference over its latency objective",
            "Ollama answers slower than the objective (p95 < 2 s by default): the model may "
            "have been unloaded and reloaded, or requests queue behind OLLAMA_NUM_PARALLEL.",
            (
                "ollama ps: is the model loaded, and on the GPU (100% GPU) or partly on the CPU?",
                "OLLAMA_NUM_PARALLEL and OLLAMA_KEEP_ALIVE in the service's environment",
                "GPU utilization and memory (another model loaded beside it?)",
            ),
        ),
    },
)
