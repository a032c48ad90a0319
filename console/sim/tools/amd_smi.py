"""A fake `amd-smi` (AMD Instinct): `metric --json` and `static --json` in the envelope its
GPU's ROCm writes (a bare list, or {"gpu_data": [...]}), `{value, unit}` leaves, and the
warning line the real tool prints before its JSON where the user is not in the render group
(reference/accelerators.md §2.1). Reads `$HOME/.sim/gpus.txt` (console/sim/gpus.py); a GPU
the driver did not bring up is in no output."""

from __future__ import annotations

import json
import sys

from console.sim import gpus as simgpus
from console.sim.gpus import GpuReading
from console.sim.tools import sim_dir

WARNING = "WARNING: amd_smi not in render group"


def leaf(value: object, unit: str) -> dict:
    return {"value": value, "unit": unit}


def metric(g: GpuReading) -> dict:
    return {
        "gpu": g.index,
        "usage": {
            "gfx_activity": leaf(g.utilization_gpu, "%"),
            "umc_activity": leaf(g.utilization_memory, "%"),
            "mm_activity": "N/A",
        },
        "power": {
            "socket_power": leaf(int(g.power_draw_w), "W"),
            "gfx_voltage": leaf(None, "mV"),
        },
        "clock": {"gfx_clock": leaf(g.clock_sm, "MHz")},
        "temperature": {
            "edge": leaf(max(g.temperature - 14, 0), "C"),
            "hotspot": leaf(g.temperature, "C"),
            "mem": leaf(max(g.temperature - 8, 0), "C"),
        },
        "ecc": {
            "total_correctable_count": 0,
            "total_uncorrectable_count": g.ecc_uncorrected_volatile,
            "total_deferred_count": 0,
            "cache_correctable_count": 0,
            "cache_uncorrectable_count": 0,
        },
        "mem_usage": {
            "total_vram": leaf(g.memory_total_mib, "MB"),
            "used_vram": leaf(g.memory_used_mib, "MB"),
            "free_vram": leaf(g.memory_total_mib - g.memory_used_mib, "MB"),
        },
    }


def static(g: GpuReading) -> dict:
    return {
        "gpu": g.index,
        "asic": {"market_name": g.name, "vendor_name": "Advanced Micro Devices Inc. [AMD/ATI]"},
        "bus": {"bdf": g.pci_bus_id},
        "board": {"product_serial": g.serial, "product_name": g.name},
        "vram": {"size": leaf(g.memory_total_mib, "MB")},
        "uuid": g.uuid,
    }


def main(args: list[str]) -> int:
    try:
        snap = simgpus.load((sim_dir() / "gpus.txt").read_text())
    except OSError:
        sys.stderr.write("AMDSMI_STATUS_DRIVER_NOT_LOADED - amdgpu driver not loaded\n")
        return 1
    gpus = [g for g in snap.gpus if not g.missing]
    wrapped = next(
        (spec[3] for spec in simgpus.AMD_SPECS.values() if gpus and spec[0] == gpus[0].name), True
    )
    command = args[0] if args else ""
    if command not in ("metric", "static") or "--json" not in args:
        sys.stdout.write(
            "AMD System Management Interface | Version: 26.1.0 | ROCm version: 7.1.0\n"
        )
        return 0
    items = [metric(g) if command == "metric" else static(g) for g in gpus]
    doc: object = {"gpu_data": items} if wrapped else items
    sys.stdout.write(WARNING + "\n" + json.dumps(doc, indent=4) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
