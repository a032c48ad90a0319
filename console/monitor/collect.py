"""HTTP collectors, reached through SSH forwards: CometBFT RPC, the Gonka public and admin
APIs, the ML node API, and inference health and latency (vLLM, Ollama).

Private ports are never opened to fleetdeck directly: each request goes to a local port
that the pool tunnels to the node's own 127.0.0.1 (or, for the chain's RPC, to the `node`
container's address when its compose file does not publish the RPC).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from console.ssh import Pool
from console.stacks.gonka import RPC_PORT
from console.state import Chain, Service
from console.text import printable_tree
from console.times import rfc3339_seconds

TIMEOUT = httpx.Timeout(5.0)


class NodeHttp:
    """GETs and POSTs to ports on one node, through the pool's forwards."""

    def __init__(self, pool: Pool, node: str, client: httpx.Client) -> None:
        self.pool, self.node, self.client = pool, node, client

    def url(self, port: int, path: str, host: str = "127.0.0.1") -> str:
        return f"http://127.0.0.1:{self.pool.forward(self.node, port, host)}{path}"

    def get(self, port: int, path: str, host: str = "127.0.0.1") -> httpx.Response:
        return self.client.get(self.url(port, path, host))

    def json(self, port: int, path: str, host: str = "127.0.0.1") -> Any:
        r = self.get(port, path, host)
        r.raise_for_status()
        return printable_tree(r.json())  # node text never drives the terminal


def gonka_chain(
    http: NodeHttp, api_port: int = 8000, rpc: tuple[str, int] = ("127.0.0.1", RPC_PORT)
) -> Chain:
    """The chain as the network node sees it; `rpc` is where its CometBFT RPC answers on
    the node (console.stacks.gonka.chain_rpc_address)."""
    host, port = rpc
    status = http.json(port, "/status", host)["result"]
    sync = status["sync_info"]
    ours = status["validator_info"]["address"]
    net = http.json(port, "/net_info", host)["result"]
    in_set = False
    page, seen = 1, 0
    while True:
        vals = http.json(port, f"/validators?page={page}&per_page=100", host)["result"]
        in_set = in_set or any(v["address"] == ours for v in vals["validators"])
        seen += len(vals["validators"])
        if in_set or seen >= int(vals["total"]) or not vals["validators"]:
            break
        page += 1
    height = int(sync["latest_block_height"])
    chain = {
        "height": height,
        "block_time": rfc3339_seconds(sync["latest_block_time"]),
        "catching_up": bool(sync["catching_up"]),
        "peers": int(net["n_peers"]),
        "validator_in_set": in_set,
        "voting_power": int(status["validator_info"]["voting_power"]),
    }
    try:
        epoch = http.json(api_port, "/v1/epochs/latest")
        chain["epoch"] = epoch["latest_epoch"]["index"]
        chain["phase"] = epoch["phase"]
        chain["blocks_to_poc"] = max(
            0, epoch["next_epoch_stages"]["poc_start"] - epoch["block_height"]
        )
        key = status["validator_info"]["pub_key"]["value"]
        participants = http.json(api_port, "/v1/epochs/current/participants")
        ours_p = [
            p
            for p in participants["active_participants"]["participants"]
            if p.get("validator_key") == key
        ]
        chain["in_epoch"] = bool(ours_p)
        chain["participant_weight"] = ours_p[0]["weight"] if ours_p else None
    except (httpx.HTTPError, KeyError, ValueError):
        pass  # the public API may be down while the chain runs; the RPC values stand
    try:
        nodes = http.json(9200, "/admin/v1/nodes")
        chain["ml_nodes"] = tuple(
            (
                n["node"]["id"],
                n["state"]["current_status"],
                bool(n["state"].get("admin_state", {}).get("enabled", True)),
            )
            for n in nodes
        )
        report = http.json(9200, "/admin/v1/setup/report")
        chain["setup_failed"] = tuple(c["id"] for c in report["checks"] if c["status"] == "FAIL")
    except (httpx.HTTPError, KeyError, ValueError):
        pass
    return Chain(**chain)


def _timed(fn) -> tuple[httpx.Response | None, float, str]:
    start = time.perf_counter()
    try:
        r = fn()
        return r, (time.perf_counter() - start) * 1000, ""
    except httpx.HTTPError as exc:
        return None, (time.perf_counter() - start) * 1000, f"{type(exc).__name__}: {exc}"


def _service(
    name: str, r: httpx.Response | None, ms: float, error: str, ok_status: int = 200
) -> Service:
    if r is None:
        return Service(name, False, None, None, error)
    ok = r.status_code == ok_status
    detail = ""
    if not ok:  # an error page is noise: keep a JSON error's text, else the status alone
        text = r.text.strip()
        detail = f"HTTP {r.status_code}" + (f": {text[:160]}" if text.startswith("{") else "")
    return Service(name, ok, round(ms, 1), r.status_code, detail)


def services(
    http: NodeHttp,
    stack: str,
    role: str,
    serves_model: bool,
    model: str | None,
    measure_latency: bool,
    ports: dict[str, int] | None = None,
) -> list[Service]:
    """The node's inference services, each asked once (and timed); `ports`: the stack
    settings' `ollama_port` and `vllm_port` where the cluster moved them."""
    ports = ports or {}
    out: list[Service] = []
    if stack == "gonka" and (role == "ml" or serves_model):
        r, ms, err = _timed(lambda: http.get(8080, "/health"))
        out.append(_service("ml node", r, ms, err))
        r, ms, err = _timed(lambda: http.get(5050, "/health"))
        out.append(_service("inference", r, ms, err))
        if measure_latency and out[-1].ok and model:
            out.append(_chat("inference latency", http, 5050, model))
    elif stack == "vllm":
        port = ports.get("vllm", 8000)
        r, ms, err = _timed(lambda: http.get(port, "/health"))
        out.append(_service("vllm", r, ms, err))
        if measure_latency and out[-1].ok and model:
            out.append(_chat("vllm latency", http, port, model))
    elif stack == "ollama":
        port = ports.get("ollama", 11434)
        r, ms, err = _timed(lambda: http.get(port, "/api/tags"))
        out.append(_service("ollama", r, ms, err))
        if measure_latency and out[-1].ok and model:
            body = {
                "model": model,
                "prompt": "ping",
                "stream": False,
                "options": {"num_predict": 1},
            }
            r, ms, err = _timed(
                lambda: http.client.post(http.url(port, "/api/generate"), json=body)
            )
            out.append(_service("ollama latency", r, ms, err))
    return out


def _chat(name: str, http: NodeHttp, port: int, model: str) -> Service:
    body = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    r, ms, err = _timed(lambda: http.client.post(http.url(port, "/v1/chat/completions"), json=body))
    return _service(name, r, ms, err)
