"""The stacks' status collectors, by stack name: for the monitor only. Kept apart from the
registry of facts (console/core/stacks/__init__.py) so that screens, which ask that registry,
never import an HTTP client (an import contract checks it)."""

from __future__ import annotations

from console.core.monitor.collect import Collector
from console.core.stacks import gonka_status, ollama_status, vllm_status

COLLECTORS: dict[str, Collector] = {
    "gonka": gonka_status.COLLECTOR,
    "ollama": ollama_status.COLLECTOR,
    "vllm": vllm_status.COLLECTOR,
    "golem": ollama_status.FRONTED,
}
