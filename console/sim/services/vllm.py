"""vLLM's OpenAI-compatible server: models, chat completions, health and metrics."""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

from console.sim.http import Request, Response, Router, json_response, text_response

if TYPE_CHECKING:
    from console.sim.node import SimNode


async def _latency(node: SimNode) -> None:
    """Typical latency, or p95 above 2 s while the slow-inference fault is set."""
    slow = node.faults.get("inference_slow")
    base = 2.6 if slow else 0.05
    await asyncio.sleep(base * random.uniform(0.9, 1.2))  # noqa: S311


def vllm_router(node: SimNode, container: str) -> Router:
    r = Router()

    def down() -> Response | None:
        if not node.containers.running(container):
            return text_response("", 502)
        if node.faults.get("inference_503"):
            return json_response({"error": "EngineDeadError"}, 503)
        return None

    def models(req: Request) -> Response:
        return down() or json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "created": int(node.started),
                        "owned_by": "vllm",
                        "root": m,
                        "parent": None,
                        "max_model_len": 240000,
                        "permission": [],
                    }
                    for m in node.models
                ],
            }
        )

    async def chat(req: Request) -> Response:
        fail = down()
        if fail:
            return fail
        await _latency(node)
        node.served += 1
        body = req.json() or {}
        return json_response(
            {
                "id": f"chatcmpl-{node.served}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", node.models[0]),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
            }
        )

    def metrics(req: Request) -> Response:
        fail = down()
        if fail:
            return fail
        lines = []
        for m in node.models:
            lab = f'engine="0",model_name="{m}"'
            lines += [
                f"vllm:num_requests_running{{{lab}}} 3.0",
                f"vllm:num_requests_waiting{{{lab}}} 0.0",
                f"vllm:kv_cache_usage_perc{{{lab}}} 0.42",
                f"vllm:prompt_tokens_total{{{lab}}} {12.0 * node.served}",
                f"vllm:generation_tokens_total{{{lab}}} {1.0 * node.served}",
                f'vllm:request_success_total{{{lab},finished_reason="stop"}} {float(node.served)}',
            ]
        head = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
        ]
        return text_response(
            "\n".join(head + lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    r.add("GET", "/health", lambda req: down() or Response(200, b"", "text/plain"))
    r.add("GET", "/v1/models", models)
    r.add("POST", "/v1/chat/completions", chat)
    r.add("GET", "/metrics", metrics)
    return r
