"""The emulated HTTP APIs of a node, in the real shapes (reference/protocols.md), one per
file: CometBFT RPC, the Gonka public and admin APIs, the ML node API, vLLM, Ollama and yagna. A
router takes the node it serves (SimNode) and reads its state through it."""

from console.sim.services.cometbft import cometbft_router
from console.sim.services.golem import golem_router
from console.sim.services.gonka_admin import admin_router
from console.sim.services.gonka_public import public_router
from console.sim.services.mlnode import mlnode_router
from console.sim.services.ollama import ollama_router
from console.sim.services.vllm import vllm_router

__all__ = [
    "admin_router",
    "cometbft_router",
    "golem_router",
    "mlnode_router",
    "ollama_router",
    "public_router",
    "vllm_router",
]
