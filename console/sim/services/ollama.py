"""Ollama's API on a host: tags, ps, pull, generate and chat, with its queue and keep-alive."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from typing import TYPE_CHECKING

from console.sim.chain import rfc3339
from console.sim.http import Request, Response, Router, json_response, text_response
from console.sim.ollama import BUSY as OLLAMA_BUSY
from console.sim.ollama import DEFAULTS as OLLAMA_DEFAULTS
from console.sim.ollama import GENERATION_S, keep_alive_seconds, model_size
from console.sim.ollama import LATEST as OLLAMA_LATEST

if TYPE_CHECKING:
    from console.sim.node import SimNode


def ollama_router(node: SimNode) -> Router:
    """Ollama's API as the server installed on the node's host answers it: its version,
    the models pulled, and generations scheduled as its settings say (console/sim/ollama.py)."""
    r = Router()
    host = node.ollama

    def env() -> dict[str, str]:
        unit = node.units.get("ollama")
        return OLLAMA_DEFAULTS | (unit.environment if unit else {})

    def down() -> Response | None:
        if not node.running("unit:ollama"):
            return text_response("", 502)
        if node.faults.get("inference_503"):
            return json_response({"error": "server busy"}, 503)
        return None

    def model_entry(name: str) -> dict:
        return {
            "name": name,
            "model": name,
            "modified_at": rfc3339(node.started),
            "size": model_size(name),
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": name.split(":")[-1].upper(),
                "quantization_level": "Q4_K_M",
            },
        }

    def tagged(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    def ps(req: Request) -> Response:
        fail = down()
        if fail:
            return fail
        loaded = []
        for m in host.in_memory():
            e = model_entry(m)
            # the CPU fallback: 62 % of the layers stay in system memory
            vram = int(e["size"] * 0.38) if node.faults.get("cpu_fallback") else e["size"]
            e.update(
                {
                    "expires_at": rfc3339(host.loaded[m]),
                    "size_vram": vram,
                    "context_length": 8192,
                }
            )
            loaded.append(e)
        return json_response({"models": loaded})

    async def pull(req: Request) -> Response:
        fail = down()
        if fail:
            return fail
        body = req.json() or {}
        name = tagged(str(body.get("model") or body.get("name") or ""))
        if not re.fullmatch(r"[\w.\-/]+:[\w.\-]+", name):
            return json_response({"error": f"invalid model name {name!r}"}, 400)
        total, digest = model_size(name), hashlib.sha256(name.encode()).hexdigest()
        await asyncio.sleep(0.05)  # a cached download: the sim's disk is fast
        host.pull(name)
        events = [{"status": "pulling manifest"}]
        events += [
            {
                "status": f"pulling {digest[:12]}",
                "digest": f"sha256:{digest}",
                "total": total,
                "completed": total * done // 4,
            }
            for done in range(1, 5)
        ]
        events += [{"status": s} for s in ("verifying sha256 digest", "writing manifest")]
        events.append({"status": "success"})
        if body.get("stream") is False:
            return json_response(events[-1])
        text = "\n".join(json.dumps(e) for e in events) + "\n"
        return Response(200, text.encode(), "application/x-ndjson")

    async def generate(req: Request) -> Response:
        fail = down()
        if fail:
            return fail
        body = req.json() or {}
        name = tagged(str(body.get("model") or ""))
        if name not in host.models:
            return json_response({"error": f'model "{name}" not found, try pulling it first'}, 404)
        settings = env()
        keep = keep_alive_seconds(body.get("keep_alive") or settings.get("OLLAMA_KEEP_ALIVE"))
        if not body.get("prompt"):  # an empty prompt loads the model, no more
            host.load(name, keep)
            return json_response(
                {
                    "model": name,
                    "created_at": rfc3339(time.time()),
                    "response": "",
                    "done": True,
                    "done_reason": "load",
                }
            )
        t0 = time.perf_counter()
        slow = 2.6 if node.faults.get("inference_slow") else GENERATION_S
        if node.faults.get("cpu_fallback"):
            slow *= 10  # most layers on the CPU
        admitted = await host.generate(settings, slow, req.gone)
        if admitted is None:  # nobody to answer
            return json_response({"error": "client gone"}, 499)
        if not admitted:
            return json_response({"error": OLLAMA_BUSY}, 503)
        host.load(name, keep)
        node.served += 1
        total = int((time.perf_counter() - t0) * 1e9)
        tokens = int((body.get("options") or {}).get("num_predict") or 8)
        return json_response(
            {
                "model": name,
                "created_at": rfc3339(time.time()),
                "response": "ok" + " ok" * (tokens - 1),
                "done": True,
                "done_reason": "stop",
                "total_duration": total,
                "load_duration": 1_000_000,
                "prompt_eval_count": 12,
                "prompt_eval_duration": 5_000_000,
                "eval_count": tokens,
                "eval_duration": max(total - 6_000_000, 1),
            }
        )

    r.add("GET", "/", lambda req: down() or text_response("Ollama is running"))
    r.add(
        "GET",
        "/api/version",
        lambda req: down() or json_response({"version": host.version or OLLAMA_LATEST}),
    )
    r.add(
        "GET",
        "/api/tags",
        lambda req: down() or json_response({"models": [model_entry(m) for m in host.models]}),
    )
    r.add("GET", "/api/ps", ps)
    r.add("POST", "/api/pull", pull)
    r.add("POST", "/api/generate", generate)
    return r
