"""The Ollama stack's status collectors: the API's answer (`/api/tags`), where the loaded
models run (`/api/ps`: a model whose `size_vram` is below its `size` runs partly on the
CPU, Ollama's silent fallback when the GPU is missing or full) and a one-token
generation's latency (its port from the cluster's settings). Used by the monitor only."""

from __future__ import annotations

from console.core.monitor.collect import Collector, NodeHttp, service, timed
from console.core.profile.schema import StackSection
from console.core.state import Service
from console.core.text import printable as text_of


class OllamaCollector(Collector):
    def services(
        self,
        http: NodeHttp,
        settings: StackSection,
        role: str,
        serves_model: bool,
        model: str | None,
        measure_latency: bool,
    ) -> list[Service]:
        port = settings.ollama_port
        r, ms, err = timed(lambda: http.get(port, "/api/tags"))
        out = [service("ollama", r, ms, err)]
        if out[-1].ok:
            placed = placement(http, port)
            if placed is not None:
                out.append(placed)
        if measure_latency and out[0].ok and model:  # a model on the CPU is timed too
            body = {
                "model": model,
                "prompt": "ping",
                "stream": False,
                "options": {"num_predict": 1},
            }
            r, ms, err = timed(lambda: http.client.post(http.url(port, "/api/generate"), json=body))
            out.append(service("ollama latency", r, ms, err))
        return out


def placement(http: NodeHttp, port: int) -> Service | None:
    """Where the loaded models run, from `/api/ps`; None when it cannot be read."""
    r, _, _ = timed(lambda: http.get(port, "/api/ps"))
    if r is None or r.status_code != 200:
        return None
    try:
        models = r.json().get("models") or []
    except (ValueError, AttributeError):
        return None
    on_cpu = []
    for m in (m for m in models if isinstance(m, dict)):
        try:
            size, vram = float(m.get("size") or 0), float(m.get("size_vram") or 0)
        except (TypeError, ValueError):
            continue  # not Ollama's shape: nothing to say about it
        if size and vram < size:
            share = 100 * (size - vram) / size
            on_cpu.append(
                f"{text_of(str(m.get('name') or '?'))}: {share:.0f} % on the CPU "
                f"({vram / 1e9:.1f} of {size / 1e9:.1f} GB in GPU memory)"
            )
    return Service("ollama gpu", not on_cpu, None, r.status_code, "; ".join(on_cpu), "placement")


COLLECTOR = OllamaCollector()


class FrontedOllama(OllamaCollector):
    """A stack whose nodes serve their model, where they name one, through an Ollama on
    the host (a Golem provider): Ollama's services on those nodes, nothing on the others.
    The provider's own status comes with the probe (console/core/stacks/golem_status.py)."""

    def wants(self, role: str, serves_model: bool) -> bool:
        return serves_model


FRONTED = FrontedOllama()
