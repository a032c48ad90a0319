"""Simulated GPUs: their specs, their live readings, and the readings file.

The fleet controller writes each node's readings to `<sandbox>/.sim/gpus.txt` once a tick;
the fake `nvidia-smi` and the fake `libnvidia-ml.so.1` both read that one file, so the two
paths of the probe always agree. The format is line-based (`key value`) so C can read it.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

MIB = 1024 * 1024

# name, memory MiB as NVML reports it, power limit W, max SM clock, memory clock
SPECS: dict[str, tuple[str, int, float, int, int]] = {
    "H100": ("NVIDIA H100 80GB HBM3", 81559, 700.0, 1980, 2619),
    "H200": ("NVIDIA H200", 143771, 700.0, 1980, 3201),
    "A100": ("NVIDIA A100-SXM4-80GB", 81920, 400.0, 1410, 1593),
    "A100 80GB": ("NVIDIA A100-SXM4-80GB", 81920, 400.0, 1410, 1593),
    "L40S": ("NVIDIA L40S", 46068, 350.0, 2520, 9001),
    "L4": ("NVIDIA L4", 23034, 72.0, 2040, 6251),
    "RTX 4090": ("NVIDIA GeForce RTX 4090", 24564, 450.0, 2790, 10501),
}
DRIVER_VERSION = "570.133.20"
CUDA_VERSION = "12.8"
# Intel Gaudi cards (reference/accelerators.md §1.1): hl-smi's name, HBM MiB, the power cap
# hl-smi's table shows, HBM in use when idle (the driver's reservation), NIC ports per card
GAUDI_SPECS: dict[str, tuple[str, int, float, int, int]] = {
    "Gaudi 3": ("HL-325L", 131072, 900.0, 672, 24),
    "Gaudi 2": ("HL-225", 98304, 600.0, 768, 24),
}
GAUDI_DRIVER = "1.24.1-b336d5e"
# AMD Instinct GPUs (reference/accelerators.md §2): amd-smi's market name, VRAM MB as it
# reports them, power cap W, and which JSON envelope its amd-smi writes (ROCm 6+: wrapped)
AMD_SPECS: dict[str, tuple[str, int, float, bool]] = {
    "MI300X": ("Instinct MI300X", 196592, 750.0, True),
    "MI250X": ("Instinct MI250X", 131072, 560.0, False),
}
AMD_DRIVER = "6.10.5"
GAUDI_GARBAGE_C = 505712272  # a broken sensor's reading, as seen in the wild


def vendor_of(gpu_type: str | None) -> str:
    """Which vendor's tools a node of this GPU type has."""
    if gpu_type in GAUDI_SPECS:
        return "gaudi"
    return "amd" if gpu_type in AMD_SPECS else "nvidia"


# NVML clocks-event reason bits (reference/protocols.md §5)
GPU_IDLE = 0x1
SW_POWER_CAP = 0x4
HW_SLOWDOWN = 0x8
SW_THERMAL = 0x20
HW_THERMAL = 0x40


@dataclass(frozen=True)
class GpuReading:
    index: int
    name: str
    uuid: str
    serial: str
    pci_bus_id: str
    memory_total_mib: int
    memory_used_mib: int
    utilization_gpu: int
    utilization_memory: int
    temperature: int
    power_draw_w: float
    power_limit_w: float
    clock_sm: int
    clock_mem: int
    clocks_event_reasons: int
    ecc_uncorrected_volatile: int = 0
    ecc_corrected_volatile: int = 0
    processes: tuple[tuple[int, int], ...] = ()  # (pid, used MiB)
    lost: bool = False  # fallen off the bus (Xid 79): NVML and nvidia-smi no longer see it
    # a Gaudi card's: its driver's status word, module id, NIC ports and those down, rows
    # waiting for replacement; missing: the driver failed to bring it up (not listed)
    status: str = "operational"
    module_id: int = 0
    ports: int = 0
    ports_down: tuple[int, ...] = ()
    rows_pending: bool = False
    missing: bool = False


@dataclass(frozen=True)
class GpuSnapshot:
    driver_version: str
    cuda_version: str
    gpus: tuple[GpuReading, ...]
    xid_events: tuple[tuple[int, int, int], ...] = ()  # (sequence, gpu index, xid)

    @property
    def visible(self) -> tuple[GpuReading, ...]:
        return tuple(g for g in self.gpus if not g.lost)


@dataclass
class GpuFaults:
    """What the fault injector can do to one node's GPUs."""

    hot: bool = False  # 92 °C, thermal slowdown
    fallen_off_bus: int | None = None  # index of the GPU lost with Xid 79
    ecc_uncorrectable: int | None = None  # index of the GPU with uncorrectable ECC errors
    xid_events: list[tuple[int, int, int]] = field(default_factory=list)
    # a Gaudi node's (reference/accelerators.md §1.8)
    missing: int | None = None  # the card the driver failed to bring up
    status: tuple[int, str] | None = None  # (card, the driver's status word)
    ports_down: tuple[int, tuple[int, ...]] | None = None  # (card, its ports down)
    rows_pending: int | None = None
    power_spike: int | None = None  # the card reading 1900 W
    garbage_temp: int | None = None  # the card whose sensor reads nonsense
    afid_fatal: int | None = None  # an AMD GPU whose firmware reported a fatal AFID (exporter)
    driver_gone: bool | None = None  # the kernel module is gone (a kernel update): tools fail


def _seed(node: str, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{node}/{index}".encode()).digest()[:8], "big")


def _wave(node: str, index: int, now: float) -> tuple[int, float]:
    """(the device's seed, where its load stands now, 0 to 1): smooth, its own phase."""
    seed = _seed(node, index)
    return seed, 0.5 + 0.5 * math.sin(now / 7.0 + (seed % 1000) / 1000 * 2 * math.pi)


def gpu_uuid(node: str, index: int) -> str:
    h = hashlib.sha256(f"uuid/{node}/{index}".encode()).hexdigest()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def spec(gpu_type: str | None) -> tuple[str, int, float, int, int]:
    return SPECS.get(gpu_type or "H100", SPECS["H100"])


def readings(
    node: str, count: int, gpu_type: str | None, busy: bool, now: float, faults: GpuFaults
) -> GpuSnapshot:
    """The node's GPUs at time `now`: smooth, deterministic per node and GPU."""
    if gpu_type in GAUDI_SPECS:
        return _gaudi(node, count, gpu_type, busy, now, faults)
    if gpu_type in AMD_SPECS:
        return _amd(node, count, gpu_type, busy, now, faults)
    name, mem_total, power_limit, sm_max, mem_clock = spec(gpu_type)
    gpus = []
    for i in range(count):
        seed, wave = _wave(node, i, now)
        if busy:
            util = int(72 + 26 * wave)
            mem_used = int(mem_total * (0.86 + 0.04 * ((seed >> 10) % 100) / 100))
            temp = int(55 + 14 * wave)
            power = round(power_limit * (0.55 + 0.35 * wave), 2)
            reasons = 0
            processes = ((1000 + i * 7 + seed % 5, mem_used - 512),)
        else:
            util, mem_used, temp, power, reasons = 0, 1, 31 + seed % 4, power_limit * 0.1, GPU_IDLE
            processes = ()
        sm_clock = sm_max if busy else 345
        if faults.hot:
            temp, reasons = 92, reasons | SW_THERMAL | HW_THERMAL
            sm_clock = int(sm_max * 0.55)
        ecc = 3 if faults.ecc_uncorrectable == i else 0
        gpus.append(
            GpuReading(
                index=i,
                name=name,
                uuid=gpu_uuid(node, i),
                serial=str(1650000000000 + seed % 10**9),
                pci_bus_id=f"00000000:{0x18 + 0x10 * i:02X}:00.0",
                memory_total_mib=mem_total,
                memory_used_mib=mem_used,
                utilization_gpu=util,
                utilization_memory=int(util * 0.4),
                temperature=temp,
                power_draw_w=round(power, 2),
                power_limit_w=power_limit,
                clock_sm=sm_clock,
                clock_mem=mem_clock,
                clocks_event_reasons=reasons,
                ecc_uncorrected_volatile=ecc,
                processes=processes,
                lost=faults.fallen_off_bus == i,
            )
        )
    return GpuSnapshot(DRIVER_VERSION, CUDA_VERSION, tuple(gpus), tuple(faults.xid_events))


def _gaudi(
    node: str, count: int, gpu_type: str, busy: bool, now: float, faults: GpuFaults
) -> GpuSnapshot:
    """A Gaudi node's cards: module ids a permutation of the indexes (as on real boxes),
    UUIDs and serials in Habana's shapes, the faults of reference/accelerators.md §1.8."""
    name, mem_total, power_cap, idle_mib, ports = GAUDI_SPECS[gpu_type]
    cards = []
    for i in range(count):
        seed, wave = _wave(node, i, now)
        if busy:
            util, temp = int(70 + 28 * wave), int(45 + 14 * wave)
            mem_used = int(mem_total * (0.8 + 0.1 * wave))
            power = round(power_cap * (0.5 + 0.3 * wave))
        else:
            util, temp, mem_used, power = 0, 26 + seed % 5, idle_mib, round(power_cap * 0.09)
        if faults.hot:
            temp = 84
        if faults.garbage_temp == i:
            temp = GAUDI_GARBAGE_C
        if faults.power_spike == i:
            power = 1900
        status = "operational"
        if faults.status is not None and faults.status[0] == i:
            status = faults.status[1]
        down = faults.ports_down[1] if faults.ports_down and faults.ports_down[0] == i else ()
        cards.append(
            GpuReading(
                index=i,
                name=name,
                uuid=f"01P4-HL3090A0-18-U{seed % 10**5:05d}-{i:02d}-0{i % 8}-0{(i * 3) % 8}",
                serial=f"AM{50000000 + seed % 10**7}",
                pci_bus_id=f"0000:{0x3B + 0x11 * i:02x}:00.0",
                memory_total_mib=mem_total,
                memory_used_mib=mem_used,
                utilization_gpu=util,
                utilization_memory=0,
                temperature=temp,
                power_draw_w=float(power),
                power_limit_w=power_cap,
                clock_sm=1650,
                clock_mem=0,
                clocks_event_reasons=0,
                ecc_uncorrected_volatile=0,
                status=status,
                module_id=(i * 3 + 1) % count if count % 3 else (i + 1) % count,
                ports=ports,
                ports_down=tuple(down),
                rows_pending=faults.rows_pending == i,
                missing=faults.missing == i,
            )
        )
    return GpuSnapshot(GAUDI_DRIVER, "", tuple(cards))


def _amd(
    node: str, count: int, gpu_type: str, busy: bool, now: float, faults: GpuFaults
) -> GpuSnapshot:
    """An AMD node's GPUs: the temperature is the junction's (amd-smi's hotspot)."""
    name, vram, power_cap, _ = AMD_SPECS[gpu_type]
    gpus = []
    for i in range(count):
        seed, wave = _wave(node, i, now)
        if busy:
            util, temp = int(70 + 28 * wave), int(62 + 16 * wave)
            used, power = int(vram * (0.6 + 0.2 * wave)), round(power_cap * (0.55 + 0.3 * wave))
        else:
            util, temp, used, power = 0, 38 + seed % 5, 283, round(power_cap * 0.18)
        gpus.append(
            GpuReading(
                index=i,
                name=name,
                uuid=f"{seed % 16**8:08x}-0000-1000-80b3-{seed % 16**12:012x}",
                serial=f"PCB{seed % 10**12:012d}",
                pci_bus_id=f"0000:{0x05 + 0x20 * i:02x}:00.0",
                memory_total_mib=vram,
                memory_used_mib=used,
                utilization_gpu=util,
                utilization_memory=int(util * 0.5),
                temperature=108 if faults.hot else temp,
                power_draw_w=float(power),
                power_limit_w=power_cap,
                clock_sm=2100,
                clock_mem=1300,
                clocks_event_reasons=0,
                ecc_uncorrected_volatile=4 if faults.ecc_uncorrectable == i else 0,
                missing=faults.missing == i,
            )
        )
    return GpuSnapshot(AMD_DRIVER, "", tuple(gpus))


# ---------------------------------------------------------------- the readings file

_INT_FIELDS = (
    "memory_total_mib",
    "memory_used_mib",
    "utilization_gpu",
    "utilization_memory",
    "temperature",
    "clock_sm",
    "clock_mem",
    "clocks_event_reasons",
    "ecc_uncorrected_volatile",
    "ecc_corrected_volatile",
)


def dump(snapshot: GpuSnapshot) -> str:
    lines = [f"driver {snapshot.driver_version}", f"cuda {snapshot.cuda_version}"]
    for seq, index, xid in snapshot.xid_events:
        lines.append(f"xid_event {seq} {index} {xid}")
    for g in snapshot.gpus:
        lines += [
            f"gpu {g.index}",
            f"name {g.name}",
            f"uuid {g.uuid}",
            f"serial {g.serial}",
            f"pci {g.pci_bus_id}",
            f"lost {int(g.lost)}",
        ]
        lines += [f"{k} {getattr(g, k)}" for k in _INT_FIELDS]
        lines += [
            f"power_draw_mw {int(g.power_draw_w * 1000)}",
            f"power_limit_mw {int(g.power_limit_w * 1000)}",
        ]
        lines += [f"process {pid} {mib}" for pid, mib in g.processes]
        if g.ports or g.missing:  # a Gaudi or AMD card's (the fake NVML knows none of these)
            lines += [
                f"status {g.status}",
                f"module_id {g.module_id}",
                f"ports {g.ports}",
                f"ports_down {' '.join(map(str, g.ports_down))}",
                f"rows_pending {int(g.rows_pending)}",
                f"missing {int(g.missing)}",
            ]
        lines.append("end")
    return "\n".join(lines) + "\n"


def load(text: str) -> GpuSnapshot:
    driver, cuda = DRIVER_VERSION, CUDA_VERSION
    gpus: list[GpuReading] = []
    events: list[tuple[int, int, int]] = []
    cur: dict[str, object] = {}
    procs: list[tuple[int, int]] = []
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "driver":
            driver = value
        elif key == "cuda":
            cuda = value
        elif key == "xid_event":
            seq, index, xid = (int(v) for v in value.split())
            events.append((seq, index, xid))
        elif key == "gpu":
            cur, procs = {"index": int(value)}, []
        elif key in ("name", "uuid", "serial"):
            cur[key] = value
        elif key == "pci":
            cur["pci_bus_id"] = value
        elif key == "lost":
            cur["lost"] = value == "1"
        elif key in _INT_FIELDS:
            cur[key] = int(value)
        elif key == "power_draw_mw":
            cur["power_draw_w"] = int(value) / 1000
        elif key == "power_limit_mw":
            cur["power_limit_w"] = int(value) / 1000
        elif key == "process":
            pid, mib = value.split()
            procs.append((int(pid), int(mib)))
        elif key == "status":
            cur["status"] = value
        elif key in ("module_id", "ports"):
            cur[key] = int(value)
        elif key == "ports_down":
            cur["ports_down"] = tuple(int(v) for v in value.split())
        elif key in ("rows_pending", "missing"):
            cur[key] = value == "1"
        elif key == "end":
            gpus.append(GpuReading(**cur, processes=tuple(procs)))  # type: ignore[arg-type]
    return GpuSnapshot(driver, cuda, tuple(gpus), tuple(events))


def write(path: str | os.PathLike[str], snapshot: GpuSnapshot) -> None:
    """Replace the readings file whole (rename), without fsync: it is rewritten every tick
    and readers must only never see half a file."""
    # one temporary name per writer: the tick thread and a fault being injected may write
    # at the same moment, and a shared name let one rename the other's file away
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w") as f:
        f.write(dump(snapshot))
    os.replace(tmp, path)


def with_lost(snapshot: GpuSnapshot, index: int) -> GpuSnapshot:
    gpus = tuple(replace(g, lost=True) if g.index == index else g for g in snapshot.gpus)
    return replace(snapshot, gpus=gpus)


def link_text(card: GpuReading) -> str:
    """`hl-smi -n link -i <bus>` of one card, the real tool's uneven spacing kept."""
    lines = []
    for p in range(card.ports):
        pad = " " * (8 if p < 10 else 7)
        lines.append(f"port {p:>2}:{pad}{'DOWN' if p in card.ports_down else 'UP'}")
    return "\n".join(lines) + "\n"


def write_links(root: Path, snapshot: GpuSnapshot) -> None:
    """Each card's port states as the fake hl-smi's shell front prints them (`-n link` is
    asked per card each slow period: a Python start per card would cost more than the real
    tool, a C program, does)."""
    root.mkdir(parents=True, exist_ok=True)
    for g in snapshot.gpus:
        path = root / g.pci_bus_id
        if g.missing:
            path.unlink(missing_ok=True)
        elif not path.exists() or path.read_text() != link_text(g):
            path.write_text(link_text(g))


def write_sysfs(root: Path, snapshot: GpuSnapshot) -> None:
    """The habanalabs driver's status word per card, where the kernel keeps it
    (<root>/class/accel/accel<N>/device/status); a card it failed to bring up has none."""
    for g in snapshot.gpus:
        status = root / "class" / "accel" / f"accel{g.index}" / "device" / "status"
        if g.missing:
            status.unlink(missing_ok=True)
            continue
        status.parent.mkdir(parents=True, exist_ok=True)
        if not status.exists() or status.read_text().strip() != g.status:
            status.write_text(g.status + "\n")
