"""NVIDIA GPUs: read by NVML or nvidia-smi (nvidia_probe.py), alerted in NVIDIA's words
(Xids, clocks-event reasons, volatile ECC), with NVIDIA's tools in every next step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from console.core.accelerators.base import Accelerator, DeviceDeploy, ExporterSeries
from console.core.accelerators.words import device_list, event_note
from console.core.monitor.findings import Finding
from console.core.monitor.runbooks import Runbook

if TYPE_CHECKING:  # the profile's schema asks the stacks, which ask these adapters
    from console.core.profile.schema import AlertsSection
    from console.core.state import Gpu, NodeStatus

CRITICAL_XIDS = {48, 63, 64, 74, 79, 94, 95}
XID_MEANING = {
    48: "double-bit ECC error",
    63: "ECC page retirement / row remap",
    64: "ECC page retirement failure",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    94: "contained ECC error",
    95: "uncontained ECC error",
    13: "graphics engine exception",
    31: "GPU memory page fault",
    43: "GPU stopped processing",
}
SLOWDOWNS = {
    "sw_thermal_slowdown": "thermal",
    "hw_thermal_slowdown": "thermal",
    "hw_slowdown": "hardware",
    "hw_power_brake_slowdown": "power brake",
    "sw_power_cap": "power cap",
}
THROTTLE_WORDS = {  # NVML's clocks-event reasons, in nvidia-smi -q's words, short
    "gpu_idle": "idle",
    "applications_clocks_setting": "app clocks",
    "sw_power_cap": "power cap",
    "hw_slowdown": "HW slowdown",
    "sync_boost": "sync boost",
    "sw_thermal_slowdown": "SW thermal",
    "hw_thermal_slowdown": "HW thermal",
    "hw_power_brake_slowdown": "power brake",
}
HOT_CRITICAL_C = 92  # where the driver throttles hard


def rules(
    node: NodeStatus,
    gpus: tuple[Gpu, ...],
    events: tuple[tuple[float, int | None, int], ...],
    limits: AlertsSection,
    drain: str,
) -> Iterator[Finding]:
    visible = [g for g in gpus if not g.lost]
    lost = [g for g in gpus if g.lost]
    # one fault, one alert: the Xid that explains a lost GPU (79) or an ECC error (48) is
    # said in that alert's evidence, not as an alert of its own
    xids = {xid: [(t, gpu) for t, gpu, x in events if x == xid] for _, _, xid in events}
    if lost:
        names = device_list("GPU", lost)
        verb = "is" if len(lost) == 1 else "are"
        said = [g.error for g in lost if g.error and g.error.lower() != "gpu is lost"]
        # the probe reads NVML (or nvidia-smi, which is NVML too); a source says itself
        where = "NVML" if node.gpu_source in (None, "nvml", "nvidia-smi") else node.gpu_source
        evidence = f"missing from {where}" + (f" ({said[0]})" if said else "")
        evidence += event_note("Xid", 79, xids.pop(79, []))
        yield Finding(
            "gpu_lost",
            "critical",
            f"{names} {verb} lost"
            + (" (fell off the bus)" if 79 in {x for *_, x in events} else ""),
            evidence,
            f"drain the node ({drain}) and reboot; a GPU that stays lost needs a hardware ticket",
        )
    # one alert per node and kind, naming the GPUs: eight hot GPUs are one problem
    hot = [g for g in visible if g.temp_c is not None and g.temp_c >= limits.gpu_temp_c]
    if hot:
        hottest = max(g.temp_c or 0 for g in hot)
        yield Finding(
            "gpu_hot",
            "critical" if hottest >= HOT_CRITICAL_C else "warning",
            f"{device_list('GPU', hot)} at up to {hottest} °C",
            ", ".join(f"GPU {g.index}: {g.temp_c} °C" for g in hot)
            + f" (threshold {limits.gpu_temp_c:.0f} °C)",
            "check fans and airflow; lower the power limit (nvidia-smi -pl) until it is fixed",
        )
    slowed = [g for g in visible if any(r in SLOWDOWNS for r in g.throttle)]
    if slowed:
        kinds = sorted({SLOWDOWNS[r] for g in slowed for r in g.throttle if r in SLOWDOWNS})
        yield Finding(
            "gpu_slowdown",
            "warning",
            f"{device_list('GPU', slowed)}: {'/'.join(kinds)} slowdown",
            "; ".join(f"GPU {g.index}: {', '.join(g.throttle)}" for g in slowed),
            "thermal: cooling; power: check the PSU and power cap settings",
        )
    ecc = [g for g in visible if g.ecc_uncorrected]
    for g in ecc:
        mine = [(t, gpu) for t, gpu in xids.get(48, []) if gpu in (g.index, None)]
        yield Finding(
            f"gpu_ecc:{g.index}",
            "critical",
            f"GPU {g.index}: {g.ecc_uncorrected} uncorrectable ECC errors",
            "volatile uncorrected ECC count" + event_note("Xid", 48, mine),
            "drain the node and reset the GPU (nvidia-smi -r) or reboot; "
            "repeated errors mean an RMA",
        )
    if ecc:
        xids.pop(48, None)
    for xid, seen in xids.items():
        gpus_hit = sorted({gpu for _, gpu in seen if gpu is not None})
        where = (
            f"GPU {','.join(map(str, gpus_hit))}" if gpus_hit else "a GPU (NVML did not say which)"
        )
        yield Finding(
            f"xid:{xid}",
            "critical" if xid in CRITICAL_XIDS else "warning",
            f"Xid {xid} on {where}: {meaning(xid)}",
            event_note("Xid", xid, seen).removeprefix("; "),
            "check dmesg on the node; drain it if the Xid repeats",
        )


def device_state(g: Gpu) -> tuple[str, bool]:
    """Its clocks-event reasons in nvidia-smi -q's words, short; alarming unless idle."""
    words = [THROTTLE_WORDS.get(r, r) for r in g.throttle]
    if "SW thermal" in words and "HW thermal" in words:  # the usual pair: one word
        words = ["thermal SW+HW" if w == "SW thermal" else w for w in words if w != "HW thermal"]
    return ", ".join(words) or "—", bool(set(g.throttle) - {"gpu_idle"})


def meaning(xid: int) -> str:
    return XID_MEANING.get(xid, "see NVIDIA's Xid catalog")


RUNBOOKS = {
    "gpu_hot": Runbook(
        "GPU hot",
        "GPUs at or above the temperature threshold slow down, and at 92 °C the "
        "driver throttles hard: tokens per second drop.",
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
        "failed; a model served with tensor parallelism over it is down.",
        ("dmesg | grep -i xid", "PCIe link and power of that slot"),
        ("drain the node, reboot; open a hardware ticket if it stays lost",),
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
}

# dcgm-exporter (reference/real/prometheus/*.prom): its fields in the probe's words
DCGM = ExporterSeries(
    name="dcgm-exporter",
    port=9400,
    seen=("DCGM_FI_DEV_GPU_TEMP",),
    fields={
        "DCGM_FI_DEV_GPU_UTIL": ("util", 1.0),
        "DCGM_FI_DEV_FB_USED": ("mem_used_mib", 1.0),  # MiB, as NVML's
        "DCGM_FI_DEV_FB_FREE": ("mem_free_mib", 1.0),
        "DCGM_FI_DEV_GPU_TEMP": ("temp_c", 1.0),
        "DCGM_FI_DEV_POWER_USAGE": ("power_w", 1.0),
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": ("ecc_uncorrected", 1.0),  # volatile double-bit
    },
    node_label="Hostname",
    device_label="gpu",
    info_labels={"uuid": "UUID", "name": "modelName"},
    driver_label="DCGM_FI_DRIVER_VERSION",
    last_event="DCGM_FI_DEV_XID_ERRORS",  # a gauge: the last Xid the GPU raised
)

# the machine sizes fleetdeck's users rent (the clouds' own catalogues)
SIZES: dict[str, tuple[int, str]] = {
    # EC2
    "p5.48xlarge": (8, "H100"),
    "p5e.48xlarge": (8, "H200"),
    "p5en.48xlarge": (8, "H200"),
    "p4d.24xlarge": (8, "A100"),
    "p4de.24xlarge": (8, "A100"),
    "g6e.xlarge": (1, "L40S"),
    "g6e.12xlarge": (4, "L40S"),
    "g6e.48xlarge": (8, "L40S"),
    "g6.xlarge": (1, "L4"),
    "g6.12xlarge": (4, "L4"),
    "g5.xlarge": (1, "A10G"),
    "g5.12xlarge": (4, "A10G"),
    "g5.48xlarge": (8, "A10G"),
    # GCE: A3 and A2 machine types carry their GPUs
    "a3-highgpu-8g": (8, "H100"),
    "a3-megagpu-8g": (8, "H100"),
    "a2-highgpu-1g": (1, "A100"),
    "a2-highgpu-8g": (8, "A100"),
    "a2-ultragpu-8g": (8, "A100"),
    "g2-standard-4": (1, "L4"),
    # Azure
    "Standard_ND96isr_H100_v5": (8, "H100"),
    "Standard_ND96isr_H200_v5": (8, "H200"),
    "Standard_ND96asr_v4": (8, "A100"),
    "Standard_NC24ads_A100_v4": (1, "A100"),
}
GCE_ACCELERATORS = {
    "H100": "nvidia-h100-80gb",
    "A100": "nvidia-tesla-a100",
    "L4": "nvidia-l4",
    "T4": "nvidia-tesla-t4",
    "V100": "nvidia-tesla-v100",
}


def inventory(out: str) -> list[tuple[str, float]]:
    """`nvidia-smi --query-gpu=index,memory.total --format=csv,noheader,nounits`."""
    rows = [[c.strip() for c in line.split(",")] for line in out.splitlines()]
    return [(r[0], float(r[1])) for r in rows if len(r) == 2 and r[0].isdigit() and r[1].isdigit()]


def answering_na(out: str) -> list[str]:
    """The GPUs whose utilization reads [N/A] (faulty until reset), digits only: the node's
    words become a command."""
    return [
        fields[0].strip()
        for line in out.splitlines()
        if len(fields := line.split(",")) >= 2
        and "N/A" in fields[1]
        and fields[0].strip().isdigit()
    ]


def compose(ids: list[str]) -> list[str]:
    """The GPUs by id through the NVIDIA runtime (never `count: all`)."""
    listed = ", ".join(f'"{i}"' for i in ids)
    return [
        "    deploy:",
        "      resources:",
        "        reservations:",
        "          devices:",
        "            - driver: nvidia",
        f"              device_ids: [{listed}]",
        "              capabilities: [gpu]",
    ]


DEPLOY = DeviceDeploy(
    inventory="nvidia-smi --query-gpu=index,memory.total --format=csv,noheader,nounits",
    parse=inventory,
    missing="install the NVIDIA driver first",
    runtime="nvidia",
    runtime_words="the NVIDIA container toolkit",
    runtime_fix=(
        "{sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nvidia-container-toolkit",
        "{sudo}nvidia-ctk runtime configure --runtime=docker",
        "{sudo}systemctl restart docker",
    ),
    compose=compose,
    health_query="nvidia-smi --query-gpu=index,utilization.gpu --format=csv,noheader,nounits",
    faulty=answering_na,
    reset="{sudo}nvidia-smi --gpu-reset -i {index}",
    count_in_container="nvidia-smi -L 2>/dev/null | grep -c '^GPU '",
    platform="cuda",
)

NVIDIA = Accelerator(
    name="nvidia",
    label="NVIDIA",
    short="NVIDIA",
    noun="GPU",
    probe_part=Path(__file__).with_name("nvidia_probe.py"),
    tool="nvidia-smi",
    tools=("nvidia-smi", "NVML", "pynvml", "NVIDIA"),
    unreadable_fix="check the NVIDIA driver: nvidia-smi on the node, dmesg for NVRM errors",
    missing_fix="look for Xid 79 in dmesg; reboot, then check the PCIe link and "
    "power of the missing card",
    memory_check="nvidia-smi for memory held by old processes",
    tools_that_change=("nvidia-ctk",),
    rules=rules,
    runbooks=RUNBOOKS,
    event_word="Xid",
    model_prefix="NVIDIA ",
    device_state=device_state,
    legacy_events=("xids", "xid"),
    exporter=DCGM,
    deploy=DEPLOY,
    kube_resource="nvidia.com/gpu",
    kube_model_labels=("nvidia.com/gpu.product",),
    sizes=SIZES,
    gce_accelerators=GCE_ACCELERATORS,
    kube_plugin_check="check the nvidia-device-plugin pod's log on the node and the GPUs' Xids",
)
