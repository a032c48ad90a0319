"""Per-stack knowledge for actions: steps, probes and ports of gonka, ollama and vllm."""
