"""A fake `hl-smi` (Intel Gaudi): the default table, `-Q/--query-aip … -f/--format
csv[,noheader][,nounits]` with `", "` separators and units in bracketed headers, `-q`/`-L`
detail (two power rails, row replacement), and `-n link -i <bus>` with the real tool's
irregular spacing (reference/accelerators.md §1.2–1.5).

Reads `$HOME/.sim/gpus.txt` (console/sim/gpus.py); a card the driver failed to bring up
is in no output at all, as on a real box. Without the file it fails as the real tool does
where the driver is not loaded (its words there are not captured in the reference)."""

from __future__ import annotations

import sys
import time

from console.sim import gpus as simgpus
from console.sim.gpus import GpuReading, GpuSnapshot
from console.sim.tools import option, sim_dir

UNITS = {
    "memory.used": "MiB",
    "memory.total": "MiB",
    "memory.free": "MiB",
    "power.draw": "W",
    "temperature.aip": "C",
    "utilization.aip": "%",
}
SMI_VERSION = "hl-1.24.1-fw-59.2.3.0"


def _value(g: GpuReading, snap: GpuSnapshot, field: str) -> str:
    values = {
        "index": g.index,
        "name": g.name,
        "uuid": g.uuid,
        "serial": g.serial,
        "bus_id": g.pci_bus_id,
        "module_id": g.module_id,
        "driver_version": snap.driver_version,
        "utilization.aip": g.utilization_gpu,
        "memory.used": g.memory_used_mib,
        "memory.total": g.memory_total_mib,
        "memory.free": g.memory_total_mib - g.memory_used_mib,
        "temperature.aip": g.temperature,
        "power.draw": int(g.power_draw_w),
        "ecc.errors.uncorrected.volatile.total": g.ecc_uncorrected_volatile,
        "ecc.errors.uncorrected.aggregate.total": g.ecc_uncorrected_volatile,
        "timestamp": time.strftime("%a %b %d %H:%M:%S %Y"),
    }
    return str(values.get(field, "N/A"))


def query(snap: GpuSnapshot, fields: list[str], fmt: str) -> str:
    opts = set(fmt.split(","))
    units = "nounits" not in opts
    lines = []
    if "noheader" not in opts:
        lines.append(", ".join(f + (f" [{UNITS[f]}]" if f in UNITS else "") for f in fields))
    for g in cards(snap):
        cells = []
        for f in fields:
            v = _value(g, snap, f)
            cells.append(f"{v} {UNITS[f]}" if units and f in UNITS and v != "N/A" else v)
        lines.append(", ".join(cells))
    return "\n".join(lines) + "\n"


def cards(snap: GpuSnapshot) -> list[GpuReading]:
    return [g for g in snap.gpus if not g.missing]


def table(snap: GpuSnapshot) -> str:
    rule = "+-------------------------------+----------------------+----------------------+"
    out = [
        "+-----------------------------------------------------------------------------+",
        f"| HL-SMI Version:{SMI_VERSION:>60} |",
        f"| Driver Version:{snap.driver_version:>60} |",
        f"| Nic Driver Version:{snap.driver_version:>56} |",
        rule.replace("+-", "|-", 1),
        "| AIP  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |",
        "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | AIP-Util  Compute M. |",
        "|===============================+======================+======================|",
    ]
    for g in cards(snap):
        power = f"{int(g.power_draw_w)}W / {int(g.power_limit_w)}W"
        memory = f"{g.memory_used_mib}MiB / {g.memory_total_mib}MiB"
        out += [
            f"| {g.index:>3}  {g.name:<20}N/A  | {g.pci_bus_id}     N/A |"
            f"{g.ecc_uncorrected_volatile:>20}  |",
            f"| N/A   {g.temperature:>2}C   N/A {power:>13} |{memory:>21} |"
            f"{g.utilization_gpu:>6}%           N/A |",
            rule.replace("+-", "|-", 1),
        ]
    out += [
        "| Compute Processes:                                               AIP Memory |",
        "|  AIP       PID   Type   Process name                             Usage      |",
        "|=============================================================================|",
    ]
    out += [
        f"| {g.index:>3}        N/A   N/A    N/A                                      N/A        |"
        for g in cards(snap)
    ]
    out.append("+=============================================================================+")
    return "\n".join(out) + "\n"


def detail(snap: GpuSnapshot, bus: str | None) -> str:
    shown = [g for g in cards(snap) if bus is None or g.pci_bus_id == bus.lower()]
    out = [
        "================ HL-SMI LOG ================",
        "",
        f"Timestamp                               : {time.strftime('%a %b %d %H:%M:%S UTC %Y')}",
        f"Driver Version                          : {snap.driver_version}",
        f"HL-SMI Version                          : {SMI_VERSION} (Oct 02 2025 - 11:20:41)",
        "",
        f"Attached AIPs                           : {len(cards(snap))}",
        "",
    ]
    for g in shown:
        free = g.memory_total_mib - g.memory_used_mib
        status = "Operational" if g.status == "operational" else g.status.title()
        out += [
            f"[{g.index}] AIP (accel{g.index}) {g.pci_bus_id}",
            f"        Product Name                    : {g.name}",
            f"        Serial Number                   : {g.serial}",
            f"        Module status                   : {status}",
            f"        Module ID                       : {g.module_id}",
            f"        AIP UUID                        : {g.uuid}",
            "        AIP Status                      : Production Level",
            "        Memory Usage",
            f"                Total                   : {g.memory_total_mib} MB",
            f"                Used                    : {g.memory_used_mib} MB",
            f"                Free                    : {free} MB",
            "        Temperature",
            f"                [ 1] On Chip 0          :  {g.temperature} C",
            "        Power Readings (54V PSU)",
            "                Power Management        : auto",
            f"                Power Draw              : {int(g.power_draw_w)} W",
            f"                Power Max               : {int(g.power_limit_w)} W",
            f"                Power Limit             : {int(g.power_limit_w)} W",
            "        Power Readings (12V PSU)",
            "                Power Draw              : 31 W",
            "                Power Max               : 50 W",
            "        Replaced Rows",
            "                Single Bit ECC          : 0",
            f"                Double Bit ECC          : {g.ecc_uncorrected_volatile}",
            f"                Pending                 : {'Yes' if g.rows_pending else 'No'}",
            "",
        ]
    return "\n".join(out) + "\n"


def links(snap: GpuSnapshot, bus: str | None) -> tuple[str, int]:
    card = next((g for g in cards(snap) if bus and g.pci_bus_id == bus.lower()), None)
    if card is None:
        return f"hl-smi: no AIP at {bus}\n", 1
    return simgpus.link_text(card), 0


def main(args: list[str]) -> int:
    try:
        snap = simgpus.load((sim_dir() / "gpus.txt").read_text())
    except OSError:
        sys.stderr.write("hl-smi: failed to detect the habanalabs driver\n")
        return 1
    fields = option(args, "-Q") or option(args, "--query-aip")
    fmt = option(args, "-f") or option(args, "--format") or "csv"
    bus = option(args, "-i") or option(args, "--device")
    if fields:
        sys.stdout.write(query(snap, [f.strip() for f in fields.split(",")], fmt))
        return 0
    if option(args, "-n") == "link":
        text, rc = links(snap, bus)
        sys.stdout.write(text)
        return rc
    if "-q" in args or "--query" in args or "-L" in args or "--list-aips" in args:
        sys.stdout.write(detail(snap, bus))
        return 0
    sys.stdout.write(table(snap))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
