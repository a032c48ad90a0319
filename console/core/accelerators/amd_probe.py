"""The AMD Instinct part of the node probe (Accelerator.probe_part): the console puts this
file into the probe script it sends (console/core/probe.py, before its main()), where its
reader joins the probe's DEVICES. Its readings (reference/accelerators.md §2):

- each interval, `amd-smi metric --json` (either envelope: a bare list, or
  {"gpu_data": [...]}; `{value, unit}` leaves, "N/A" or null where a value is missing; a
  warning line may come before the JSON), else the legacy `rocm-smi --json` (`cardN`
  objects of strings, some in one-element lists);
- each slow period, `amd-smi static --json` (the model, serial and PCI address) and the
  kernel log's GPU resets and uncorrectable hardware errors, as events.

It runs inside the probe script: stdlib only, old syntax, and every name of it starts with
`amd`/`Amd`, since all parts share the script's one namespace."""

import json

AMD_KERNEL_WINDOW_S = 600
# kernel log lines of the amdgpu driver -> the event code the console reads them by
AMD_KERNEL_EVENTS = [
    ("GPU reset begin!", 1),
    ("uncorrectable hardware error", 2),
    ("MES might be in unrecoverable state", 3),
]


def amd_json(out):
    """The JSON of an amd-smi answer, past any warning line before it."""
    for i, ch in enumerate(out):
        if ch in "[{":
            try:
                return json.loads(out[i:])
            except ValueError:
                continue
    return None


def amd_value(leaf):
    """A `{value, unit}` leaf, a plain number, "N/A" or null: the number, or None."""
    if isinstance(leaf, dict):
        leaf = leaf.get("value")
    if isinstance(leaf, list) and len(leaf) == 1:
        leaf = leaf[0]
    if isinstance(leaf, bool) or leaf is None:
        return None
    if isinstance(leaf, (int, float)):
        return leaf
    try:
        number = float(str(leaf).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else number


def amd_first(section, *keys):
    """The first of `keys` in a metric section that holds a number."""
    section = section if isinstance(section, dict) else {}
    for key in keys:
        value = amd_value(section.get(key))
        if value is not None:
            return value
    return None


def amd_metric(doc):
    """`amd-smi metric --json` (either envelope) as probe devices."""
    if isinstance(doc, dict):
        doc = doc.get("gpu_data")
    devices = []
    for d in doc if isinstance(doc, list) else []:
        if not isinstance(d, dict) or amd_value(d.get("gpu")) is None:
            continue
        usage, mem = d.get("usage") or {}, d.get("mem_usage") or {}
        temp, power, ecc = d.get("temperature") or {}, d.get("power") or {}, d.get("ecc") or {}
        devices.append(
            {
                "index": amd_value(d.get("gpu")),
                "lost": False,
                "util": amd_first(usage, "gfx_activity"),
                "mem_used_mib": amd_first(mem, "used_vram"),
                "mem_total_mib": amd_first(mem, "total_vram"),
                # the junction (hotspot) is what throttles an Instinct; edge on older cards
                "temp_c": amd_first(temp, "hotspot", "junction", "edge"),
                "power_w": amd_first(power, "socket_power", "average_socket_power"),
                "power_limit_w": amd_first(power, "power_limit", "socket_power_limit"),
                "ecc_uncorrected": amd_first(ecc, "total_uncorrectable_count"),
                "processes": [],
            }
        )
    return devices


def amd_rocm_smi(doc):
    """`rocm-smi --json`: {"card0": {…strings…}, "system": {…}} as probe devices."""
    devices = []
    for key, card in sorted((doc or {}).items()):
        if not key.startswith("card") or not key[4:].isdigit() or not isinstance(card, dict):
            continue
        total = amd_value(card.get("VRAM Total Memory (B)"))
        used = amd_value(card.get("VRAM Total Used Memory (B)"))
        devices.append(
            {
                "index": int(key[4:]),
                "lost": False,
                "name": card.get("Card Series") or card.get("Card series"),
                "util": amd_value(card.get("GPU use (%)")),
                "mem_used_mib": used // (1 << 20) if used is not None else None,
                "mem_total_mib": total // (1 << 20) if total is not None else None,
                "temp_c": amd_value(
                    card.get("Temperature (Sensor junction) (C)")
                    or card.get("Temperature (Sensor edge) (C)")
                ),
                "power_w": amd_value(
                    card.get("Current Socket Graphics Package Power (W)")
                    or card.get("Average Graphics Package Power (W)")
                ),
                "power_limit_w": amd_value(card.get("Max Graphics Package Power (W)")),
                "processes": [],
            }
        )
    return devices


def amd_static(doc):
    """`amd-smi static --json`: {gpu index: {"name", "serial", "bus", "uuid"}}."""
    if isinstance(doc, dict):
        doc = doc.get("gpu_data")
    out = {}
    for d in doc if isinstance(doc, list) else []:
        if not isinstance(d, dict) or amd_value(d.get("gpu")) is None:
            continue
        asic, bus, board = d.get("asic") or {}, d.get("bus") or {}, d.get("board") or {}
        out[amd_value(d.get("gpu"))] = {
            "name": asic.get("market_name"),
            "serial": board.get("product_serial"),
            "bus": str(bus.get("bdf") or "").lower() or None,
            "uuid": d.get("uuid") if isinstance(d.get("uuid"), str) else None,
        }
    return out


def amd_kernel_events(now, window):
    """The amdgpu driver's resets and hardware errors the kernel logged in the last
    `window` seconds: [{"t", "bus", "code", "line"}]; the journal, else dmesg."""
    found = []
    rc, out, _ = run(  # noqa: F821 - the probe's (this file runs inside it)
        ["journalctl", "-k", "-o", "json", "--no-pager", f"--since=-{int(window)}s"], 10
    )
    lines = []
    for raw in out.splitlines() if rc == 0 else []:
        try:
            entry = json.loads(raw)
            lines.append((int(entry["__REALTIME_TIMESTAMP"]) / 1e6, entry.get("MESSAGE") or ""))
        except (ValueError, KeyError, TypeError):
            continue
    if rc != 0 or not out.strip():
        from datetime import datetime  # noqa: PLC0415 - only on this fallback

        rc, out, _ = run(["dmesg", "--time-format", "iso"], 10)  # noqa: F821
        for raw in out.splitlines() if rc == 0 else []:
            stamp, _, message = raw.partition(" ")
            try:
                lines.append((datetime.fromisoformat(stamp.replace(",", ".")).timestamp(), message))
            except ValueError:
                continue
    for t, message in lines:
        if t <= now - window or not message.startswith("amdgpu "):
            continue
        for words, code in AMD_KERNEL_EVENTS:
            if words in message:
                bus = message.split()[1].rstrip(":").lower()
                found.append({"t": t, "bus": bus, "code": code, "line": message[:200]})
    return found


class AmdDevices:
    """The probe's reader of AMD Instinct GPUs: read(now, first) is this vendor's part of a
    line, or None where the node has neither amd-smi nor rocm-smi (`why` says so)."""

    vendor = "amd"

    def __init__(self, slow):
        self.why, self.slow = "amd-smi not found", slow
        self.tool = Every(slow)  # noqa: F821 - the probe's
        self.static = Every(slow)  # noqa: F821
        self.kernel = Every(slow)  # noqa: F821

    def _tool(self):
        return (
            "amd-smi"
            if which("amd-smi")  # noqa: F821 - the probe's
            else "rocm-smi"
            if which("rocm-smi")  # noqa: F821
            else None
        )

    def read(self, now, first):
        tool = self.tool.get(self._tool)
        if tool is None:
            return None
        if tool == "amd-smi":
            rc, out, err = run(["amd-smi", "metric", "--json"])  # noqa: F821
            devices = amd_metric(amd_json(out)) if rc == 0 else []
        else:
            rc, out, err = run(  # noqa: F821
                [
                    "rocm-smi",
                    "--showuse",
                    "--showmemuse",
                    "--showtemp",
                    "--showpower",
                    "--showmaxpower",
                    "--showmeminfo",
                    "vram",
                    "--showproductname",
                    "--json",
                ]
            )
            devices = amd_rocm_smi(amd_json(out)) if rc == 0 else []
        if rc != 0 or (not devices and amd_json(out) is None):
            said = (err or out).strip()
            return {
                "gpus": [],
                "source": "none",
                "error": said.splitlines()[-1] if said else f"{tool} failed (exit {rc})",
            }
        names = self.static.get(self._static) if tool == "amd-smi" else {}
        by_bus = {}
        for d in devices:
            d.update({k: v for k, v in (names.get(d["index"]) or {}).items() if v})
            if d.get("bus"):
                by_bus[d["bus"]] = d["index"]
        got = {"gpus": devices, "source": tool, "events": []}
        window = AMD_KERNEL_WINDOW_S if first else self.slow * 2
        seen_at = self.kernel.at
        events = self.kernel.get(lambda: amd_kernel_events(now, window))
        if self.kernel.at != seen_at:  # read now, sent once
            got["events"] = [
                {
                    "t": e["t"],
                    "gpu": by_bus.get(e["bus"]),
                    "code": e["code"],
                    "source": "kernel log",
                }
                for e in events
            ]
        return got

    def _static(self):
        rc, out, _ = run(["amd-smi", "static", "--json"], 20)  # noqa: F821
        return amd_static(amd_json(out)) if rc == 0 else {}


def devices(slow):
    """This part's reader, for the probe's DEVICES (`slow`: the probe's slow period)."""
    return AmdDevices(slow)
