"""Gonka's `/v1/mlnodes/metrics` on a network node's public API: every ML node's GPU
metrics, federated, in one GET (reference/operations.md §6; the endpoint caches 10 s).

Series carry `node_id` (the ML node's id in the admin API: fleetdeck registers them by
node name) and, for GPUs, `gpu_index`. The families read are those operations.md lists;
others the endpoint serves (vLLM's, `mlnode_config_info`) are left alone, and a name
beyond these is unconfirmed in the reference, so none is guessed at.
"""

from __future__ import annotations

from console.core.sources.promtext import label_int, parse

UP = "mlnode_up"
GPU_FAMILIES = {
    "mlnode_gpu_temp_core_celsius": ("temp_c", 1.0),
    "mlnode_gpu_power_draw_watts": ("power_w", 1.0),
    "mlnode_gpu_memory_used_bytes": ("mem_used_mib", 1 / (1024 * 1024)),
    "mlnode_gpu_ecc_dbe_total": ("ecc_uncorrected", 1.0),
}
EVENTS = "mlnode_gpu_xid_events_total"  # a counter per GPU and its driver's event code


def read_mlnode_metrics(text: str) -> dict[str, dict]:
    """{ML node id: {"up": bool, "gpus": [probe-shaped], "event_totals": [[gpu, code, n]]}}."""
    samples, _ = parse(text)
    nodes: dict[str, dict] = {}
    gpus: dict[str, dict[int, dict]] = {}
    for s in samples:
        node = s.labels.get("node_id")
        if not node:
            continue
        entry = nodes.setdefault(node, {"up": True, "event_totals": []})
        if s.name == UP:
            entry["up"] = s.value == 1
            continue
        index = label_int(s.labels.get("gpu_index"))
        if s.name == EVENTS:
            code = label_int(s.labels.get("xid"))  # the series' label of that name
            if code is not None:
                entry["event_totals"].append([index, code, s.value])
            continue
        family = GPU_FAMILIES.get(s.name)
        if family is None or index is None or s.value != s.value:
            continue
        key, scale = family
        gpu = gpus.setdefault(node, {}).setdefault(index, {"index": index})
        value = s.value * scale
        gpu[key] = round(value, 1) if key == "power_w" else int(value)
    for node, entry in nodes.items():
        entry["gpus"] = [gpus.get(node, {})[i] for i in sorted(gpus.get(node, {}))]
    return nodes
