"""The Gonka ML node's management API (8080): its state, health, inference up and stop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.sim.http import Request, Response, Router, json_response, text_response

if TYPE_CHECKING:
    from console.sim.node import SimNode


def mlnode_router(node: SimNode) -> Router:
    r = Router()

    def available() -> Response | None:
        if not node.containers.running("mlnode-308"):
            return text_response(
                "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "text/html"
            )
        return None

    def state(req: Request) -> Response:
        return available() or json_response({"state": node.ml_state})

    def health(req: Request) -> Response:
        down = available()
        if down:
            return down
        healthy = node.containers.healthy("mlnode-308") and not node.faults.get("inference_503")
        gpus = node.gpu_snapshot().visible
        body = {
            "status": "healthy" if healthy else "unhealthy",
            "service_state": node.ml_state,
            "gpu": {
                "available": bool(gpus),
                "count": len(gpus),
                "devices": [
                    {
                        "index": g.index,
                        "name": g.name,
                        "total_memory_mb": g.memory_total_mib,
                        "used_memory_mb": g.memory_used_mib,
                        "utilization_percent": g.utilization_gpu,
                        "temperature_c": g.temperature,
                    }
                    for g in gpus
                ],
            },
            "managers": {
                "inference": {"running": node.ml_state == "INFERENCE", "healthy": healthy},
                "train": {"running": False, "healthy": True},
            },
        }
        return json_response(body, 200 if healthy else 503)

    def inference_up(req: Request) -> Response:
        down = available()
        if down:
            return down
        body = req.json() or {}
        if not isinstance(body, dict) or "model" not in body:
            return json_response({"status": "ERROR", "message": "model is required"})
        node.ml_state = "INFERENCE"
        node.loaded_model = body["model"]
        return json_response({"status": "OK"})

    def stop(req: Request) -> Response:
        node.ml_state = "STOPPED"
        return available() or json_response({"status": "OK"})

    r.add("GET", "/api/v1/state", state)
    r.add("GET", "/health", health)
    r.add("GET", "/livez", health)
    r.add(
        "GET",
        "/readyz",
        lambda req: available() or json_response({"ready": node.containers.healthy("mlnode-308")}),
    )
    r.add("POST", "/api/v1/inference/up", inference_up)
    r.add("POST", "/api/v1/inference/down", stop)
    r.add("POST", "/api/v1/stop", stop)
    return r
