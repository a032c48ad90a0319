"""A fake `nvidia-smi`: the default table, `-L`, and `--query-gpu` / `--query-compute-apps`
with `--format=csv[,noheader][,nounits]`, using the real column names and units.

Reads `$HOME/.sim/gpus.txt` (see console/sim/gpus.py). Without it, it fails the way
nvidia-smi does on a machine whose driver is not loaded.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from console.sim import gpus as simgpus
from console.sim.gpus import GpuReading, GpuSnapshot
from console.sim.tools import sim_dir

NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n"
)


FAULTY = "gpu-na"  # in .sim/: the indexes of GPUs that answer [N/A], one per line


def faulty() -> set[int]:
    try:
        text = (sim_dir() / FAULTY).read_text()
    except OSError:
        return set()
    return {int(w) for w in text.split() if w.isdigit()}


def reset(ids: set[int] | None) -> int:
    """`nvidia-smi --gpu-reset [-i N]`: as root; a faulty GPU answers again."""
    if os.geteuid() != 0 and not os.environ.get("FLEETDECK_SIM_ROOT"):
        sys.stdout.write("Unable to reset this GPU: Insufficient Permissions\n")
        return 4
    left = faulty() - (ids if ids is not None else faulty())
    path = sim_dir() / FAULTY
    if left:
        path.write_text("".join(f"{i}\n" for i in sorted(left)))
    else:
        path.unlink(missing_ok=True)
    for i in sorted(ids if ids is not None else {0}):
        sys.stdout.write(f"GPU 00000000:{0x18 + i:02X}:00.0 was successfully reset.\n")
    sys.stdout.write("All done.\n")
    return 0


def _lost_message(g: GpuReading) -> str:
    return (
        f"Unable to determine the device handle for GPU{g.pci_bus_id[4:]}: GPU is lost.  "
        "Reboot the system to recover this GPU\n"
    )


def _active(bit: int) -> Callable[[GpuReading, GpuSnapshot], str]:
    return lambda g, s: "Active" if g.clocks_event_reasons & bit else "Not Active"


# query name -> (header, unit or "", value). Aliases map to the canonical header.
Field = tuple[str, str, Callable[[GpuReading, GpuSnapshot], str]]
FIELDS: dict[str, Field] = {
    "timestamp": ("timestamp", "", lambda g, s: time.strftime("%Y/%m/%d %H:%M:%S.000")),
    "driver_version": ("driver_version", "", lambda g, s: s.driver_version),
    "count": ("count", "", lambda g, s: str(len(s.visible))),
    "name": ("name", "", lambda g, s: g.name),
    "gpu_name": ("name", "", lambda g, s: g.name),
    "serial": ("serial", "", lambda g, s: g.serial),
    "gpu_serial": ("serial", "", lambda g, s: g.serial),
    "uuid": ("uuid", "", lambda g, s: g.uuid),
    "gpu_uuid": ("uuid", "", lambda g, s: g.uuid),
    "pci.bus_id": ("pci.bus_id", "", lambda g, s: g.pci_bus_id),
    "gpu_bus_id": ("pci.bus_id", "", lambda g, s: g.pci_bus_id),
    "index": ("index", "", lambda g, s: str(g.index)),
    "persistence_mode": ("persistence_mode", "", lambda g, s: "Enabled"),
    "fan.speed": ("fan.speed", "%", lambda g, s: "[N/A]"),
    "pstate": ("pstate", "", lambda g, s: "P0" if g.utilization_gpu else "P5"),
    "compute_cap": ("compute_cap", "", lambda g, s: "9.0"),
    "mig.mode.current": ("mig.mode.current", "", lambda g, s: "Disabled"),
    "clocks_event_reasons.active": (
        "clocks_event_reasons.active",
        "",
        lambda g, s: f"0x{g.clocks_event_reasons:016X}",
    ),
    "clocks_throttle_reasons.active": (
        "clocks_event_reasons.active",
        "",
        lambda g, s: f"0x{g.clocks_event_reasons:016X}",
    ),
    "clocks_event_reasons.gpu_idle": (
        "clocks_event_reasons.gpu_idle",
        "",
        _active(simgpus.GPU_IDLE),
    ),
    "clocks_event_reasons.sw_power_cap": (
        "clocks_event_reasons.sw_power_cap",
        "",
        _active(simgpus.SW_POWER_CAP),
    ),
    "clocks_event_reasons.hw_slowdown": (
        "clocks_event_reasons.hw_slowdown",
        "",
        _active(simgpus.HW_SLOWDOWN),
    ),
    "clocks_event_reasons.hw_thermal_slowdown": (
        "clocks_event_reasons.hw_thermal_slowdown",
        "",
        _active(simgpus.HW_THERMAL),
    ),
    "clocks_event_reasons.sw_thermal_slowdown": (
        "clocks_event_reasons.sw_thermal_slowdown",
        "",
        _active(simgpus.SW_THERMAL),
    ),
    "memory.total": ("memory.total", "MiB", lambda g, s: str(g.memory_total_mib)),
    "memory.reserved": ("memory.reserved", "MiB", lambda g, s: "479"),
    "memory.used": ("memory.used", "MiB", lambda g, s: str(g.memory_used_mib)),
    "memory.free": (
        "memory.free",
        "MiB",
        lambda g, s: str(g.memory_total_mib - g.memory_used_mib - 479),
    ),
    # a faulty GPU answers [N/A] (operations.md §3: such a GPU is faulty until reset)
    "utilization.gpu": (
        "utilization.gpu",
        "%",
        lambda g, s: "[N/A]" if g.index in faulty() else str(g.utilization_gpu),
    ),
    "utilization.memory": ("utilization.memory", "%", lambda g, s: str(g.utilization_memory)),
    "ecc.mode.current": ("ecc.mode.current", "", lambda g, s: "Enabled"),
    "ecc.errors.corrected.volatile.total": (
        "ecc.errors.corrected.volatile.total",
        "",
        lambda g, s: str(g.ecc_corrected_volatile),
    ),
    "ecc.errors.uncorrected.volatile.total": (
        "ecc.errors.uncorrected.volatile.total",
        "",
        lambda g, s: str(g.ecc_uncorrected_volatile),
    ),
    "temperature.gpu": ("temperature.gpu", "", lambda g, s: str(g.temperature)),
    "power.draw": ("power.draw", "W", lambda g, s: f"{g.power_draw_w:.2f}"),
    "power.draw.instant": ("power.draw.instant", "W", lambda g, s: f"{g.power_draw_w:.2f}"),
    "power.limit": ("power.limit", "W", lambda g, s: f"{g.power_limit_w:.2f}"),
    "enforced.power.limit": ("enforced.power.limit", "W", lambda g, s: f"{g.power_limit_w:.2f}"),
    "clocks.current.sm": ("clocks.current.sm", "MHz", lambda g, s: str(g.clock_sm)),
    "clocks.sm": ("clocks.current.sm", "MHz", lambda g, s: str(g.clock_sm)),
    "clocks.current.graphics": ("clocks.current.graphics", "MHz", lambda g, s: str(g.clock_sm)),
    "clocks.gr": ("clocks.current.graphics", "MHz", lambda g, s: str(g.clock_sm)),
    "clocks.current.memory": ("clocks.current.memory", "MHz", lambda g, s: str(g.clock_mem)),
    "clocks.mem": ("clocks.current.memory", "MHz", lambda g, s: str(g.clock_mem)),
}

APP_FIELDS: dict[str, tuple[str, str]] = {  # --query-compute-apps
    "timestamp": ("timestamp", ""),
    "gpu_name": ("gpu_name", ""),
    "gpu_bus_id": ("gpu_bus_id", ""),
    "gpu_serial": ("gpu_serial", ""),
    "gpu_uuid": ("gpu_uuid", ""),
    "pid": ("pid", ""),
    "process_name": ("process_name", ""),
    "name": ("process_name", ""),
    "used_gpu_memory": ("used_gpu_memory", "MiB"),
    "used_memory": ("used_gpu_memory", "MiB"),
}


def _format_opts(fmt: str) -> tuple[bool, bool]:
    parts = [p.strip() for p in fmt.split(",")]
    if (
        not parts
        or parts[0] != "csv"
        or any(p not in ("csv", "noheader", "nounits") for p in parts)
    ):
        raise SystemExit(_usage_error(f'"{fmt}" is not a valid format.'))
    return "noheader" not in parts, "nounits" not in parts


def _usage_error(message: str) -> int:
    sys.stdout.write(f"{message}\n\nRun 'nvidia-smi -h' for help.\n\n")
    return 2


def _cell(value: str, unit: str, units: bool) -> str:
    if not units or not unit or value.startswith("["):
        return value
    return f"{value} {unit}" if unit != "%" else f"{value} %"


def query_gpu(
    snapshot: GpuSnapshot, names: list[str], header: bool, units: bool, ids: set[int] | None
) -> tuple[str, int]:
    for n in names:
        if n not in FIELDS:
            return f'Field "{n}" is not a valid field to query.\n\n', 2
    out, rc = [], 0
    if header:
        out.append(
            ", ".join(
                f"{FIELDS[n][0]} [{FIELDS[n][1]}]" if FIELDS[n][1] and units else FIELDS[n][0]
                for n in names
            )
        )
    for g in snapshot.gpus:
        if ids is not None and g.index not in ids:
            continue
        if g.lost:
            out.append(_lost_message(g).rstrip("\n"))
            rc = 15
            continue
        out.append(", ".join(_cell(FIELDS[n][2](g, snapshot), FIELDS[n][1], units) for n in names))
    return "\n".join(out) + "\n", rc


def query_apps(snapshot: GpuSnapshot, names: list[str], header: bool, units: bool) -> str:
    for n in names:
        if n not in APP_FIELDS:
            return f'Field "{n}" is not a valid field to query.\n\n'
    out = []
    if header:
        out.append(
            ", ".join(
                f"{APP_FIELDS[n][0]} [{APP_FIELDS[n][1]}]"
                if APP_FIELDS[n][1] and units
                else APP_FIELDS[n][0]
                for n in names
            )
        )
    for g in snapshot.visible:
        for pid, mib in g.processes:
            values = {
                "timestamp": time.strftime("%Y/%m/%d %H:%M:%S.000"),
                "gpu_name": g.name,
                "gpu_bus_id": g.pci_bus_id,
                "gpu_serial": g.serial,
                "gpu_uuid": g.uuid,
                "pid": str(pid),
                "process_name": "python3",
                "name": "python3",
                "used_gpu_memory": str(mib),
                "used_memory": str(mib),
            }
            out.append(", ".join(_cell(values[n], APP_FIELDS[n][1], units) for n in names))
    return "\n".join(out) + ("\n" if out else "")


def table(snapshot: GpuSnapshot) -> str:
    """The default table, laid out as driver 570 prints it (91 columns)."""
    inner = 89
    border = "+" + "-" * inner + "+"
    cols = "+" + "-" * 41 + "+" + "-" * 24 + "+" + "-" * 22 + "+"

    def row(*cells: str) -> str:
        return "|" + "|".join(cells) + "|"

    lines = [
        time.strftime("%a %b %d %H:%M:%S %Y") + "       ",
        border,
        row(
            f" NVIDIA-SMI {snapshot.driver_version:<22}Driver Version: "
            f"{snapshot.driver_version:<15}CUDA Version: {snapshot.cuda_version:<10}"
        ),
        "|" + cols[1:-1] + "|",
        row(
            " GPU  Name                 Persistence-M ",
            " Bus-Id          Disp.A ",
            " Volatile Uncorr. ECC ",
        ),
        row(
            " Fan  Temp   Perf          Pwr:Usage/Cap ",
            "           Memory-Usage ",
            " GPU-Util  Compute M. ",
        ),
        row(" " * 41, " " * 24, "               MIG M. "),
        row("=" * 41, "=" * 24, "=" * 22).replace("=|=", "=+="),
    ]
    for g in snapshot.visible:
        perf = "P0" if g.utilization_gpu else "P5"
        power = f"{int(g.power_draw_w)}W / {int(g.power_limit_w):>4}W"
        memory = f"{g.memory_used_mib}MiB / {g.memory_total_mib:>6}MiB"
        lines += [
            row(
                f" {g.index:>3}  {g.name:<31.31}On  ",
                f"   {g.pci_bus_id:<16} Off ",
                f"{g.ecc_uncorrected_volatile:>21} ",
            ),
            row(
                f" N/A  {g.temperature:>3}C    {perf:<2}{power:>24} ",
                f"{memory:>23} ",
                f"{g.utilization_gpu:>7}%      Default ",
            ),
            row(" " * 41, " " * 24, "             Disabled "),
            cols,
        ]
    lines += [
        " " * (inner + 2),
        border,
        row(" Processes:".ljust(inner)),
        row(
            "  GPU   GI   CI              PID   Type   Process name".ljust(inner - 11)
            + "GPU Memory "
        ),
        row("        ID   ID".ljust(inner - 11) + "Usage      "),
        row("=" * inner),
    ]
    procs = [(g, pid, mib) for g in snapshot.visible for pid, mib in g.processes]
    if not procs:
        lines.append(row("  No running processes found".ljust(inner)))
    for g, pid, mib in procs:
        left = f"  {g.index:>3}   N/A  N/A  {pid:>15}      C   python3"
        lines.append(row(left.ljust(inner - 11) + f"{str(mib) + 'MiB':>10} "))
    lines.append(border)
    return "\n".join(lines) + "\n"


def listing(snapshot: GpuSnapshot) -> str:
    return "".join(f"GPU {g.index}: {g.name} (UUID: {g.uuid})\n" for g in snapshot.visible)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = sim_dir() / "gpus.txt"
    try:
        snapshot = simgpus.load(path.read_text())
    except FileNotFoundError:
        sys.stdout.write(NO_DRIVER)
        return 9
    query: str | None = None
    apps: str | None = None
    fmt: str | None = None
    ids: set[int] | None = None
    list_gpus = resetting = False
    i = 0
    while i < len(args):
        arg = args[i]
        key, eq, value = arg.partition("=")
        takes_value = key in ("--query-gpu", "--query-compute-apps", "--format", "-i", "--id")
        if takes_value and not eq and i + 1 < len(args):
            value = args[i + 1]
            i += 1
        if key in ("--query-gpu",):
            query = value
        elif key == "--query-compute-apps":
            apps = value
        elif key == "--format":
            fmt = value
        elif key in ("-i", "--id"):
            ids = {int(v) for v in value.split(",") if v.strip().isdigit()}
        elif key in ("-L", "--list-gpus"):
            list_gpus = True
        elif key in ("-r", "--gpu-reset"):
            resetting = True
        else:
            return _unknown(arg)
        i += 1
    if resetting:
        return reset(ids)
    if list_gpus:
        sys.stdout.write(listing(snapshot))
        return 0
    if query is not None or apps is not None:
        if fmt is None:
            sys.stdout.write("Missing --format argument.\n")
            return 2
        try:
            header, units = _format_opts(fmt)
        except SystemExit as exc:
            return int(exc.code or 2)
        if apps is not None:
            sys.stdout.write(
                query_apps(snapshot, [n.strip() for n in apps.split(",")], header, units)
            )
            return 0
        text, rc = query_gpu(
            snapshot, [n.strip() for n in query.split(",") if n.strip()], header, units, ids
        )
        sys.stdout.write(text)
        return rc
    sys.stdout.write(table(snapshot))
    for g in snapshot.gpus:
        if g.lost:
            sys.stdout.write(_lost_message(g))
    return 0


def _unknown(arg: str) -> int:
    sys.stdout.write(
        f"Invalid combination of input arguments. Please run 'nvidia-smi -h' "
        f"for help.\n\n(unsupported by the simulator: {arg})\n"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
