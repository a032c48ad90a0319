"""Fleet states made up for screen tests: deterministic, so snapshots are stable."""

from __future__ import annotations

from dataclasses import replace

from console.core.monitor import alerts as rules
from console.core.profile.schema import FleetProfile
from console.core.stacks import STACKS
from console.core.state import Alert, Chain, Container, Disk, FleetState, Gpu, NodeStatus, System

NOW = 1_800_000_000.0


def healthy(fleet: FleetProfile, now: float = NOW) -> dict[str, NodeStatus]:
    nodes = {}
    for i, (cluster, n) in enumerate(fleet.all_nodes()):
        stack = fleet.cluster_stack(cluster)
        count = n.gpus or 0
        gpus = tuple(
            Gpu(
                index=g,
                name="NVIDIA H100 80GB HBM3",
                uuid=f"GPU-{i:04d}-{g}",
                util=70 + (i * 7 + g * 3) % 28,
                mem_used_mib=70000,
                mem_total_mib=81559,
                temp_c=55 + (i + g) % 12,
                power_w=500.0,
                power_limit_w=700.0,
                processes=1,
            )
            for g in range(count)
        )
        expected = STACKS[stack].expected_containers(n.role, bool(n.model or n.models))
        containers = tuple(
            Container(c, f"{c}:1", "running", None, 0, "2026-11-23T10:00:00Z", 0) for c in expected
        )
        chain = None
        if stack == "gonka" and n.role == "network":
            chain = Chain(
                height=873_400 + i,
                block_time=now - 1,
                catching_up=False,
                peers=4,
                validator_in_set=True,
                voting_power=37778,
                epoch=3639,
                phase="Inference",
                blocks_to_poc=120,
                window_at=873_400 + i + 120 - 500,  # the window before the PoC: open
                participant_weight=37778,
                in_epoch=True,
                inferences=1106,
                missed=14,
                last_epoch_inferences=5230,
                last_epoch_missed=41,
            )
        nodes[n.name] = NodeStatus(
            n.name,
            cluster.name,
            n.role,
            stack,
            expected_gpus=n.gpus,
            reachable=True,
            probe_at=now - 0.5,
            seen_at=now - 0.5,
            gpus=gpus,
            gpu_source="nvml",
            containers=containers,
            system=System(
                hostname=n.name,
                os="Ubuntu 22.04.4 LTS",
                kernel="6.5.0",
                uptime_s=86400,
                load1=3.2,
                mem_total_mib=2_000_000,
                mem_available_mib=1_500_000,
                disks=(Disk("/mnt/shared", 3662.1, 2160.6, 41.0),),
                driver="570.133.20",
                docker="27.3.1",
            ),
            chain=chain,
            util_history=tuple(60.0 + (i + k) % 40 for k in range(10)),
        )
    return nodes


def state_of(
    fleet: FleetProfile, nodes: dict[str, NodeStatus], now: float = NOW, interval: float = 2.0
) -> FleetState:
    alerts = []
    for name, node in nodes.items():
        for f in rules.evaluate(node, fleet.alerts, now, interval):
            alerts.append(
                Alert(name, f.kind, f.severity, f.summary, now - 42, f.evidence, f.next_step)
            )
    order = {"critical": 0, "warning": 1, "info": 2}
    alerts.sort(key=lambda a: (order[a.severity], a.node))
    return FleetState(nodes, tuple(alerts), now, interval)


def troubled(fleet: FleetProfile, now: float = NOW) -> FleetState:
    """One stale node, one hot node, one crash-looping container, a jailed validator."""
    nodes = healthy(fleet, now)
    names = list(nodes)
    stale, hot, crash, net = names[2], names[3], names[4], names[0]
    nodes[stale] = replace(
        nodes[stale], reachable=False, seen_at=now - 37, error="no answer for 5 s (host hung?)"
    )
    nodes[hot] = replace(
        nodes[hot],
        gpus=tuple(
            replace(g, temp_c=92, throttle=("sw_thermal_slowdown", "hw_thermal_slowdown"))
            for g in nodes[hot].gpus
        ),
    )
    nodes[crash] = replace(
        nodes[crash],
        containers=tuple(
            replace(c, state="restarting", restarts=14, exit_code=1)
            if c.name == "mlnode-308"
            else c
            for c in nodes[crash].containers
        ),
    )
    if nodes[net].chain is not None:
        nodes[net] = replace(nodes[net], chain=replace(nodes[net].chain, validator_in_set=False))
    return state_of(fleet, nodes, now)


def mixed_accelerators(fleet: FleetProfile, now: float = NOW) -> FleetState:
    """tests/data/sim-accelerators.toml: the H100 server healthy, the Gaudi 3 server's cards
    read by hl-smi, one of them with two NIC ports down, the MI300X server's GPUs read by
    amd-smi, one of them with its junction hot."""
    nodes = healthy(fleet, now)
    gaudi = nodes["gaudi"]
    cards = tuple(
        Gpu(
            index=g,
            name="HL-325L",
            uuid=f"01P4-HL3090A0-18-UAN071-{g:02d}-03-01",
            util=60 + g * 4,
            mem_used_mib=110_000 + g * 512,
            mem_total_mib=131072,
            temp_c=48 + g,
            power_w=600.0 + g * 10,
            power_limit_w=900.0,
            vendor="gaudi",
            serial=f"AM5001{g:04d}",
            health="operational",
            links=24,
            links_down=(5, 7) if g == 2 else (),
        )
        for g in range(8)
    )
    nodes["gaudi"] = replace(gaudi, gpus=cards, gpu_source="hl-smi")
    nodes["mi300x"] = replace(
        nodes["mi300x"],
        gpu_source="amd-smi",
        gpus=tuple(
            Gpu(
                index=g,
                name="Instinct MI300X",
                uuid=f"5b0f{g:04x}-0000-1000-80b3-0000000000{g:02d}",
                util=55 + g * 5,
                mem_used_mib=150_000 + g * 1024,
                mem_total_mib=196592,
                temp_c=97 if g == 6 else 70 + g,
                power_w=540.0 + g * 5,
                power_limit_w=750.0,
                vendor="amd",
                serial=f"PCB0000000{g:02d}",
            )
            for g in range(8)
        ),
    )
    nodes["h100"] = replace(
        nodes["h100"], gpus=tuple(replace(g, vendor="nvidia") for g in nodes["h100"].gpus)
    )
    return state_of(fleet, nodes, now)
