"""The watch's view as Prometheus metrics (text format 0.0.4), served on 127.0.0.1 only, so
that Prometheus and Grafana users scrape fleetdeck's verdicts beside their own series:
each node's state (up, down, unknown: the history's words), its open alerts, the values
it read (accelerator utilisation and temperature, chain height), the pages open, and each
node's uptime over the SLO window. Label values are escaped as the format asks; nothing
secret is in the state it renders."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from console.core.history.store import judge
from console.core.state import FleetState

HELP = {
    "fleetdeck_node_state": "the node's state as fleetdeck judges it (1 for its state)",
    "fleetdeck_alert": "an alert open on the node (1)",
    "fleetdeck_gpu_utilization_percent": "an accelerator's utilisation, as read",
    "fleetdeck_gpu_temperature_celsius": "an accelerator's temperature, as read",
    "fleetdeck_chain_height": "the chain height the node reports",
    "fleetdeck_pages_open": "pages sent and not resolved",
    "fleetdeck_uptime_ratio": "up / (up + down) over the SLO window, from the history",
}


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labels(**pairs: object) -> str:
    return "{" + ",".join(f'{k}="{escape(str(v))}"' for k, v in pairs.items()) + "}"


def render(state: FleetState, fleet: str, pages_open: int, uptimes: dict[str, float | None]) -> str:
    out: dict[str, list[str]] = {name: [] for name in HELP}
    critical = {a.node for a in state.alerts if a.severity == "critical"}
    heights = [n.chain.height for n in state.nodes.values() if n.chain and n.chain.height]
    top = max(heights) if heights else None
    for name, node in state.nodes.items():
        where = {"fleet": fleet, "cluster": node.cluster, "node": name}
        judged = judge(node, state, critical, top).state
        for word in ("up", "down", "unknown"):
            out["fleetdeck_node_state"].append(
                f"fleetdeck_node_state{labels(**where, state=word)} {int(word == judged)}"
            )
        for g in node.gpus:
            gpu = {**where, "gpu": g.index if g.index is not None else g.uuid or "?"}
            if g.util is not None and not g.lost:
                out["fleetdeck_gpu_utilization_percent"].append(
                    f"fleetdeck_gpu_utilization_percent{labels(**gpu)} {g.util}"
                )
            if g.temp_c is not None and not g.lost:
                out["fleetdeck_gpu_temperature_celsius"].append(
                    f"fleetdeck_gpu_temperature_celsius{labels(**gpu)} {g.temp_c}"
                )
        if node.chain is not None and node.chain.height is not None:
            out["fleetdeck_chain_height"].append(
                f"fleetdeck_chain_height{labels(**where)} {node.chain.height}"
            )
        ratio = uptimes.get(name)
        if ratio is not None:
            out["fleetdeck_uptime_ratio"].append(f"fleetdeck_uptime_ratio{labels(**where)} {ratio}")
    for a in state.alerts:
        node = state.nodes.get(a.node)
        where = {"fleet": fleet, "cluster": node.cluster if node else "", "node": a.node}
        out["fleetdeck_alert"].append(
            f"fleetdeck_alert{labels(**where, kind=a.kind, severity=a.severity)} 1"
        )
    out["fleetdeck_pages_open"].append(f"fleetdeck_pages_open{labels(fleet=fleet)} {pages_open}")
    lines = []
    for name, samples in out.items():
        lines += [f"# HELP {name} {HELP[name]}", f"# TYPE {name} gauge", *samples]
    return "\n".join(lines) + "\n"


class MetricsServer:
    """The latest rendering, on 127.0.0.1:port (a port of 0 takes a free one)."""

    def __init__(self, port: int) -> None:
        self.text = ""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = server.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True, name="metrics").start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
