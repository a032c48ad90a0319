"""AMD Instinct GPUs (MI300X and kin): read by amd-smi (or the legacy rocm-smi) and the
amdgpu driver's kernel log (amd_probe.py), alerted in AMD's words: uncorrectable ECC, a
junction (hotspot) temperature in the throttling range, a GPU reset or an uncorrectable
hardware error the driver logged, with AMD's tools in every next step
(reference/accelerators.md §2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from console.core.accelerators.base import Accelerator, DeviceDeploy, ExporterSeries
from console.core.accelerators.words import clock, device_list
from console.core.monitor.findings import Finding
from console.core.monitor.runbooks import Runbook

if TYPE_CHECKING:  # the profile's schema asks the stacks, which ask these adapters
    from console.core.profile.schema import AlertsSection
    from console.core.state import Gpu, NodeStatus

# the junction (hotspot) temperature: an Instinct throttles near 100 °C and more; these are
# fleetdeck's defaults, not AMD's published limits (the reference names none)
JUNCTION_WARNING_C = 95
JUNCTION_CRITICAL_C = 105
# the kernel log's events (amd_probe.py's AMD_KERNEL_EVENTS): code -> (words, critical)
KERNEL_EVENTS = {
    1: ("GPU reset", False),
    2: ("uncorrectable hardware error", True),
    3: ("MES unrecoverable, reset issued", True),
}


def meaning(code: int) -> str:
    return KERNEL_EVENTS.get(code, (f"amdgpu event {code}", False))[0]


def rules(
    node: NodeStatus,
    gpus: tuple[Gpu, ...],
    events: tuple[tuple[float, int | None, int], ...],
    limits: AlertsSection,
    drain: str,
) -> Iterator[Finding]:
    hot = [g for g in gpus if g.temp_c is not None and g.temp_c >= JUNCTION_WARNING_C]
    if hot:
        hottest = max(g.temp_c or 0 for g in hot)
        yield Finding(
            "amdgpu_hot",
            "critical" if hottest >= JUNCTION_CRITICAL_C else "warning",
            f"{device_list('GPU', hot)} junction at up to {hottest} °C",
            ", ".join(f"GPU {g.index}: {g.temp_c} °C" for g in hot)
            + f" (warning from {JUNCTION_WARNING_C} °C, critical from {JUNCTION_CRITICAL_C} °C)",
            "check fans and airflow (amd-smi metric --temperature --power); lower the power "
            "cap until it is fixed",
        )
    for g in gpus:
        if g.fatal_errors:
            yield Finding(
                f"amdgpu_afid:{g.index}",
                "critical",
                f"GPU {g.index}: fatal AFID error",
                f'the device metrics exporter\'s gpu_afid_errors{{severity="fatal"}}: '
                f"{g.fatal_errors}",
                f"drain the node ({drain}); look the AFID up in AMD's error catalogue and "
                "dmesg | grep amdgpu; the GPU needs a reset (amd-smi reset -G -g "
                f"{g.index}, as root) or a reboot, and a repeat a hardware ticket",
            )
        if g.ecc_uncorrected:
            yield Finding(
                f"amdgpu_ecc:{g.index}",
                "critical",
                f"GPU {g.index}: {g.ecc_uncorrected} uncorrectable ECC errors",
                "amd-smi metric's total uncorrectable count",
                f"drain the node ({drain}); amd-smi metric --ecc --json for the block; reset "
                f"the GPU (amd-smi reset -G -g {g.index}, as root) or reboot; repeated "
                "errors mean an RMA",
            )
    codes = {code: [(t, gpu) for t, gpu, c in events if c == code] for _, _, code in events}
    for code, seen in codes.items():
        words, critical = KERNEL_EVENTS.get(code, (meaning(code), False))
        hit = sorted({gpu for _, gpu in seen if gpu is not None})
        where = f"GPU {','.join(map(str, hit))}" if hit else "a GPU (the log named no device)"
        yield Finding(
            f"amdgpu_event:{code}",
            "critical" if critical else "warning",
            f"{words} on {where}",
            f"the amdgpu driver's kernel log: {len(seen)} time{'s' if len(seen) > 1 else ''}, "
            f"first at {clock(min(t for t, _ in seen))}",
            "dmesg | grep amdgpu on the node; work on the GPU was lost at the reset: check the "
            f"model server; if it repeats, drain the node ({drain}) and open a hardware ticket",
        )


RUNBOOKS = {
    "amdgpu_afid": Runbook(
        "Fatal AFID error on an AMD GPU",
        "The GPU's firmware reported an error it classes fatal (an AMD Field ID): work on "
        "the GPU is lost until it is reset.",
        ("the exporter's gpu_afid_errors by afid_index", "dmesg | grep amdgpu"),
        ("drain the node; amd-smi reset -G -g <gpu> as root, or reboot",),
    ),
    "amdgpu_hot": Runbook(
        "AMD GPU junction hot",
        "The junction (hotspot) temperature is in the range where the GPU throttles: "
        "tokens per second drop.",
        ("amd-smi metric --temperature --power", "fans, airflow, neighbouring machines"),
        ("lower the power cap (amd-smi set --power-cap, as root) until it is fixed",),
    ),
    "amdgpu_ecc": Runbook(
        "Uncorrectable ECC errors on an AMD GPU",
        "HBM errors the GPU could not correct: results on it cannot be trusted.",
        ("amd-smi metric --ecc --json", "amd-smi bad-pages"),
        ("drain the node; amd-smi reset -G -g <gpu> as root, or reboot",),
    ),
    "amdgpu_event": Runbook(
        "amdgpu driver reset or hardware error",
        "The amdgpu driver logged a GPU reset or an uncorrectable hardware error: the work "
        "on that GPU at the time was lost.",
        ("dmesg | grep amdgpu", "journalctl -k --since -1h | grep amdgpu"),
        ("restart the model server if it did not recover; a repeat needs a hardware ticket",),
    ),
}


def _both(name: str, key: str, factor: float = 1.0) -> dict[str, tuple[str, float]]:
    """A field by its name with the exporter's `amd_` prefix (MetricsFieldPrefix) and
    without."""
    return {name: (key, factor), f"amd_{name}": (key, factor)}


# AMD's device metrics exporter (reference/accelerators.md §2.3): MI3xx and MI2xx name
# their power and temperature apart; memory in MB as amd-smi's (UNCONFIRMED: the metrics
# list names no unit)
AMD_EXPORTER = ExporterSeries(
    name="device-metrics-exporter",
    port=5000,
    seen=(
        "gpu_junction_temperature",
        "amd_gpu_junction_temperature",
        "gpu_edge_temperature",
        "amd_gpu_edge_temperature",
    ),
    fields={
        **_both("gpu_gfx_activity", "util"),
        **_both("gpu_used_vram", "mem_used_mib"),
        **_both("gpu_total_vram", "mem_total_mib"),
        **_both("gpu_junction_temperature", "temp_c"),
        **_both("gpu_edge_temperature", "temp_c"),
        **_both("gpu_package_power", "power_w"),
        **_both("gpu_average_package_power", "power_w"),
        **_both("gpu_ecc_uncorrect_total", "ecc_uncorrected"),
        # AMD's firmware error IDs: a fatal one is counted per GPU and AFID
        **_both("gpu_afid_errors", "fatal_errors"),
    },
    matchers={"fatal_errors": 'severity="fatal"'},
    node_label="hostname",
    device_label="gpu_id",
    info_labels={"name": "card_model", "serial": "serial_number"},
)


def inventory(out: str) -> list[tuple[str, float]]:
    """`amd-smi static --json` (either envelope, past a warning line): index and VRAM."""
    start = min((i for i in (out.find("["), out.find("{")) if i >= 0), default=-1)
    try:
        doc = json.loads(out[start:]) if start >= 0 else None
    except ValueError:
        return []
    if isinstance(doc, dict):
        doc = doc.get("gpu_data")
    found = []
    for d in doc if isinstance(doc, list) else []:
        size = ((d.get("vram") or {}).get("size") or {}) if isinstance(d, dict) else {}
        value = size.get("value") if isinstance(size, dict) else None
        if isinstance(d, dict) and isinstance(d.get("gpu"), int) and isinstance(value, int):
            found.append((str(d["gpu"]), float(value)))
    return found


def compose(ids: list[str]) -> list[str]:
    """ROCm in a container: the kernel's device files and the groups that may open them,
    the GPUs chosen by HIP's visible-devices variable."""
    return [
        "    devices: [/dev/kfd, /dev/dri]",
        "    group_add: [video, render]",
        "    security_opt: [seccomp=unconfined]",
        "    environment:",
        f"      - HIP_VISIBLE_DEVICES={','.join(ids)}",
    ]


DEPLOY = DeviceDeploy(
    inventory="amd-smi static --json",
    parse=inventory,
    missing="install the amdgpu driver and ROCm (amd-smi) first",
    compose=compose,
    platform="rocm",
    count_in_container="amd-smi static --json 2>/dev/null | grep -c '\"gpu\":'",
)

AMD = Accelerator(
    name="amd",
    label="AMD",
    short="AMD",
    noun="GPU",
    probe_part=Path(__file__).with_name("amd_probe.py"),
    probe_needs=("amd-smi", "rocm-smi"),
    tool="amd-smi",
    tools=("amd-smi", "rocm-smi", "amdgpu", "ROCm"),
    unreadable_fix="check the amdgpu driver and ROCm: amd-smi on the node (the user in the "
    "render and video groups), dmesg | grep amdgpu",
    missing_fix="a GPU the driver did not bring up: dmesg | grep amdgpu; reboot, then check "
    "the card's PCIe link and power",
    memory_check="amd-smi process for memory held by old processes",
    rules=rules,
    runbooks=RUNBOOKS,
    event_word="amdgpu",
    model_prefix="AMD ",
    exporter=AMD_EXPORTER,
    deploy=DEPLOY,
    kube_resource="amd.com/gpu",
    sizes={"Standard_ND96isr_MI300X_v5": (8, "MI300X")},  # Azure's ND MI300X v5
    # the device metrics exporter's health check labels the node, and only while unhealthy
    kube_unhealthy_label=("metricsexporter.amd.com.gpu.{n}.state", "unhealthy"),
    kube_plugin_check="check the AMD GPU device plugin's log on the node and amd-smi there",
)
