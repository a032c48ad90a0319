"""What each alert kind means on these stacks, what to check, and the actions at hand.
Shown on the triage screen's runbook card; the alert's own next step comes first there."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runbook:
    title: str
    meaning: str
    checks: tuple[str, ...]
    actions: tuple[str, ...] = ()


RUNBOOKS: dict[str, Runbook] = {
    "unreachable": Runbook(
        "Node unreachable",
        "fleetdeck cannot reach the node over SSH, or its probe went silent. Its last "
        "values stay on screen, marked stale. On a Gonka ML node, inference and PoC "
        "requests to it fail too.",
        (
            "Is the machine up (cloud console, IPMI)?",
            "Is port 22 reachable from here?",
            "A hung host accepts TCP and never answers: look for kernel panics or OOM.",
        ),
        ("disable the ML node in the admin API before the next PoC",),
    ),
    "host_key_changed": Runbook(
        "Host key changed",
        "The host presented a different SSH key than the one recorded. It may have been "
        "reinstalled, or someone may be intercepting the connection. fleetdeck refuses it.",
        (
            "Compare the new fingerprint with the host's console output "
            "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).",
        ),
        ("remove the old line from fleetdeck's known_hosts once verified",),
    ),
    "gpu_hot": Runbook(
        "GPU hot",
        "GPUs at or above the temperature threshold slow down, and at 92 °C the "
        "driver throttles hard: PoC nonces and tokens per second drop.",
        ("Fans and airflow; neighbouring machines; data centre temperature.",),
        ("lower the power limit: nvidia-smi -pl <watts>",),
    ),
    "gpu_slowdown": Runbook(
        "GPU clocks slowed",
        "The GPU is running below its clocks for thermal or power "
        "reasons (NVML clocks event reasons).",
        ("Thermal: cooling. Power: PSU, power cap, power brake signals.",),
    ),
    "gpu_lost": Runbook(
        "GPU lost (Xid 79)",
        "The GPU fell off the bus: NVML cannot reach it. Work on it has "
        "failed; vLLM with tensor parallelism over it is down.",
        ("dmesg | grep -i xid", "PCIe link and power of that slot"),
        ("drain the node, reboot; open a hardware ticket if it stays lost",),
    ),
    "gpu_missing": Runbook(
        "Fewer GPUs than expected",
        "The node shows fewer GPUs than the profile says it has.",
        ("nvidia-smi -L on the node", "dmesg for Xid 79 and NVRM errors"),
    ),
    "gpu_ecc": Runbook(
        "Uncorrectable ECC errors",
        "Memory errors the GPU could not correct: results on it cannot be trusted.",
        ("nvidia-smi -q -d ECC,PAGE_RETIREMENT,ROW_REMAPPER",),
        ("drain the node and reset the GPU (nvidia-smi -r), or reboot",),
    ),
    "xid": Runbook(
        "Xid event",
        "The NVIDIA driver reported an Xid error. 48, 63, 64, 74, 79, 94 and 95 "
        "need attention now.",
        ("dmesg | grep -i xid on the node",),
    ),
    "container_missing": Runbook(
        "Container missing",
        "An expected container of the stack does not exist on the node.",
        ("docker ps -a on the node",),
        ("run the deploy again for this node",),
    ),
    "container_exited": Runbook(
        "Container exited",
        "A container of the stack stopped.",
        ("docker logs --tail 100 <name>",),
        ("start it again: docker start <name>",),
    ),
    "container_restarting": Runbook(
        "Container restarting",
        "The container crashes and restarts. For mlnode-308 this "
        "often means the model does not fit in GPU memory, or a bad model argument.",
        ("docker logs --tail 100 <name>", "nvidia-smi for memory held by old processes"),
        ("open logs", "restart the container"),
    ),
    "container_unhealthy": Runbook(
        "Container unhealthy",
        "The container runs but fails its health check.",
        ("docker inspect <name> (State.Health.Log)",),
        ("restart the container",),
    ),
    "chain_stalled": Runbook(
        "Chain stalled",
        "No new block for longer than the threshold: the node is stuck or the network halted.",
        ("docker logs node and tmkms", "disk space", "peers"),
    ),
    "chain_catching_up": Runbook(
        "Chain catching up",
        "The chain node is behind and syncing; its API answers may be "
        "stale, and the validator may miss blocks.",
        ("watch the height converge",),
    ),
    "chain_no_peers": Runbook(
        "No peers",
        "The chain node has no P2P peers: it cannot follow the chain.",
        ("P2P port 5000 open to the world", "SEED_NODE_P2P_URL in config.env"),
    ),
    "validator_not_in_set": Runbook(
        "Validator not in the set",
        "Our consensus key is not among the active validators: "
        "jailed (fewer than 50 of the last 100 blocks signed) or not registered.",
        ("inferenced query staking delegator-validators <cold address> shows jailed: true",),
        (
            "unjail with the cold key: inferenced tx slashing unjail --from <cold key> "
            "--chain-id gonka-mainnet --fees 200000ngonka --node $NODE_URL/chain-rpc/",
        ),
    ),
    "participant_not_in_epoch": Runbook(
        "Not in the current epoch",
        "The participant is missing from the epoch's active set: no weight, no rewards this epoch.",
        ("the admin API setup report", "PoC results"),
    ),
    "ml_node_failed": Runbook(
        "ML node FAILED",
        "The network node's broker marked an ML node FAILED: it gets no "
        "inference and will miss PoC.",
        ("that ML node's containers and /health",),
        ("disable it in the admin API before the next PoC: POST /admin/v1/nodes/<id>/disable",),
    ),
    "service_down": Runbook(
        "Inference down",
        "The inference endpoint does not answer or answers an error.",
        ("the serving container's logs", "GPU memory"),
        ("restart the serving container",),
    ),
    "service_slow": Runbook(
        "Inference over its latency objective",
        "Requests take longer than the objective (p95 < 2 s by default).",
        ("vllm:num_requests_waiting", "GPU utilization"),
    ),
    "disk_full": Runbook(
        "Disk nearly full",
        "The deploy directory or the model cache is running out of space; "
        "downloads and the chain database will fail.",
        ("du -sh HF_HOME/*", "docker system df"),
        ("docker system prune", "remove unused model snapshots"),
    ),
}


# where a stack reads a kind differently: the card speaks that stack's language
STACK_RUNBOOKS: dict[tuple[str, str], Runbook] = {
    ("service_slow", "ollama"): Runbook(
        "Inference over its latency objective",
        "Ollama answers slower than the objective (p95 < 2 s by default): the model may "
        "have been unloaded and reloaded, or requests queue behind OLLAMA_NUM_PARALLEL.",
        (
            "ollama ps: is the model loaded, and on the GPU (100% GPU) or partly on the CPU?",
            "OLLAMA_NUM_PARALLEL and OLLAMA_KEEP_ALIVE in the service's environment",
            "GPU utilization and memory (another model loaded beside it?)",
        ),
    ),
}


def runbook_for(kind: str, stack: str | None = None) -> Runbook | None:
    base = kind.split(":")[0]
    return STACK_RUNBOOKS.get((base, stack or "")) or RUNBOOKS.get(base)
