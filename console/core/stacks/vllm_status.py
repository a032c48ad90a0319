"""The vLLM stack's status collectors: the server's health and a chat's latency (its port
from the cluster's settings). Used by the monitor only."""

from __future__ import annotations

from console.core.monitor.collect import Collector, NodeHttp, chat, service, timed
from console.core.profile.schema import StackSection
from console.core.state import Service


class VllmCollector(Collector):
    def services(
        self,
        http: NodeHttp,
        settings: StackSection,
        role: str,
        serves_model: bool,
        model: str | None,
        measure_latency: bool,
    ) -> list[Service]:
        port = settings.vllm_port
        r, ms, err = timed(lambda: http.get(port, "/health"))
        out = [service("vllm", r, ms, err)]
        if measure_latency and out[-1].ok and model:
            out.append(chat("vllm latency", http, port, model))
        return out


COLLECTOR = VllmCollector()
