"""The vLLM stack, as the core sees it: OpenAI-compatible vLLM servers, and the runbook
words of their alerts. Its deploy is actions/stacks/vllm.py."""

from __future__ import annotations

from console.core.monitor.runbooks import Runbook
from console.core.schema import Port, Strict
from console.core.stacks.base import InferenceApi, Stack


class VllmSettings(Strict):
    vllm_port: Port = 8000  # where the server answers on the node
    vllm_image: str | None = None  # vllm/vllm-openai:v0.11.0 when absent


NOT_READ_YET: dict[str, str] = {}


def chat_body(model: str, prompt: str, tokens: int) -> dict:
    """An OpenAI chat completion request (vLLM's, and Gonka's ML nodes', which run vLLM)."""
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": tokens}


def chat_tokens(answer: dict) -> int:
    return int((answer.get("usage") or {}).get("completion_tokens") or 0)


CHAT = InferenceApi("vllm_port", "/v1/chat/completions", chat_body, chat_tokens)

VLLM = Stack(
    name="vllm",
    settings=VllmSettings,
    key_prefix="vllm_",
    not_read_yet=NOT_READ_YET,
    roles=("server",),
    private_ports=(),
    description="vLLM OpenAI-compatible servers",
    containers=(("server", ("vllm",)),),
    inference=CHAT,
    tensor_parallel=True,
    runbooks={
        "service_slow": Runbook(
            "Inference over its latency objective",
            "vLLM answers slower than the objective (p95 < 2 s by default).",
            ("vllm:num_requests_waiting on /metrics (requests queued)", "GPU utilization"),
        ),
    },
)
