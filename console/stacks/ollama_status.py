"""The Ollama stack's status collectors: the API's answer (`/api/tags`) and a one-token
generation's latency (its port from the cluster's settings). Used by the monitor only."""

from __future__ import annotations

from console.monitor.collect import Collector, NodeHttp, service, timed
from console.profile_schema import StackSection
from console.state import Service


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
        if measure_latency and out[-1].ok and model:
            body = {
                "model": model,
                "prompt": "ping",
                "stream": False,
                "options": {"num_predict": 1},
            }
            r, ms, err = timed(lambda: http.client.post(http.url(port, "/api/generate"), json=body))
            out.append(service("ollama latency", r, ms, err))
        return out


COLLECTOR = OllamaCollector()
