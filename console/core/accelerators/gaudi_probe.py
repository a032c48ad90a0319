"""The Intel Gaudi part of the node probe (Accelerator.probe_part): the console puts this
file into the probe script it sends (console/core/probe.py, before its main()), where its
reader joins the probe's DEVICES. Its readings, from Habana's own tools and driver:

- each interval, one CSV query (`hl-smi -Q … -f csv,nounits`, its header naming the
  columns, units in brackets; values read with or without their units);
- each slow period, `hl-smi -q` (the power cap, row replacement, how many cards the
  driver attached) and the driver's status word per card in sysfs
  (/sys/class/accel/accel<N>/device/status: operational, disabled, needs reset, …);
- each slow period too, on a thread of its own, the NIC ports of each card (`hl-smi -n
  link -i <bus>`, slow: one call per card), which never holds back a line: the first lines
  carry no port states yet;
- while a card has a port down or rows pending, that card alone again each interval (its
  `-n link`, its `-q -d ROW_REPLACEMENT`), so what it says clears within two lines of
  clearing, at the cost of one call per faulty card.

A sensor value no card can have (a temperature over 300 °C) is dropped, not reported.
It runs inside the probe script: stdlib only, old syntax, and every name of it starts with
`gaudi`/`Gaudi`, since all parts share the script's one namespace."""

import os

GAUDI_FIELDS = (
    "index,name,uuid,serial,bus_id,module_id,utilization.aip,memory.used,memory.total,"
    "temperature.aip,power.draw,ecc.errors.uncorrected.volatile.total"
)
GAUDI_KEYS = {  # hl-smi's field -> the probe's key
    "index": "index",
    "name": "name",
    "uuid": "uuid",
    "serial": "serial",
    "utilization.aip": "util",
    "memory.used": "mem_used_mib",
    "memory.total": "mem_total_mib",
    "temperature.aip": "temp_c",
    "power.draw": "power_w",
    "ecc.errors.uncorrected.volatile.total": "ecc_uncorrected",
}
GAUDI_MAX_SANE_C = 300  # a sensor reading above this is garbage (505712272 °C was seen)


def gaudi_number(text):
    """'131072 MiB', '226 W', '36 C', '0 %' or '131072': the number; None for N/A."""
    head = text.strip().split(" ")[0] if text.strip() else ""
    try:
        return float(head) if "." in head else int(head)
    except ValueError:
        return None


def gaudi_csv(out):
    """Rows of `hl-smi -Q … -f csv[,nounits]` with its header, as {field: text}."""
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        return []
    header = [h.strip().split(" [")[0] for h in lines[0].split(", ")]
    rows = [[c.strip() for c in line.split(", ")] for line in lines[1:]]
    return [dict(zip(header, row)) for row in rows]  # noqa: B905 - strict= is 3.10's


def gaudi_detail(out):
    """`hl-smi -q`: (attached count, {bus id: {"accel", "status", "power_max_w",
    "rows_pending"}})."""
    attached, cards, card, section = None, {}, None, ""
    for raw in out.splitlines():
        line = raw.strip()
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "Attached AIPs":
            attached = gaudi_number(value)
        elif line.startswith("[") and "] AIP" in line:
            # `[0] AIP (accel0) 0000:43:00.0`
            bus = line.split()[-1].lower()
            accel = line.split("(", 1)[1].split(")", 1)[0] if "(" in line else None
            card = cards.setdefault(bus, {"accel": accel})
            section = ""
        elif card is None:
            continue
        elif line.startswith("Power Readings") or line == "Replaced Rows":
            section = line
        elif key == "Module status":
            card["status"] = value
        elif key == "Power Max" and "power_max_w" not in card and "12V" not in section:
            card["power_max_w"] = gaudi_number(value)
        elif key == "Pending" and section == "Replaced Rows":
            card["rows_pending"] = value.lower() == "yes"
    return attached, cards


def gaudi_links(out):
    """`hl-smi -n link -i <bus>`: {port: up}, the spacing as it comes."""
    ports = {}
    for line in out.splitlines():
        head, sep, state = line.partition(":")
        words = head.split()
        if sep and len(words) == 2 and words[0] == "port" and words[1].isdigit():
            ports[int(words[1])] = state.strip().upper() == "UP"
    return ports


def gaudi_sysfs_status(accel):
    root = os.environ.get("FLEETDECK_SYSFS", "/sys")
    try:
        with open(root + "/class/accel/" + accel + "/device/status") as f:
            return f.read().strip()
    except (OSError, TypeError):
        return None


class GaudiDevices:
    """The probe's reader of Intel Gaudi cards: read(now, first) is this vendor's part of a
    line, or None where the node has no hl-smi (`why` says so)."""

    vendor = "gaudi"

    def __init__(self, slow):
        self.why, self.slow = "hl-smi not found", slow
        self.detail = Every(slow)  # noqa: F821 - the probe's (this file runs inside it)
        self.tool = Every(slow)  # noqa: F821 - whether hl-smi is there, looked for again
        # the ports, read on a thread of their own: one call per card, slow on a real box,
        # must never hold back a line
        self.buses, self.ports, self.reading_ports = [], {}, None
        self.gap, self.last = slow, None  # seconds between lines, as they come

    def _tool(self):
        return which("hl-smi")  # noqa: F821 - the probe's

    def read(self, now, first):
        if not self.tool.get(self._tool):
            return None
        rc, out, err = run(["hl-smi", "-Q", GAUDI_FIELDS, "-f", "csv,nounits"])  # noqa: F821
        if rc != 0:
            said = (err or out).strip()
            return {
                "gpus": [],
                "source": "none",
                "error": said.splitlines()[0] if said else f"hl-smi failed (exit {rc})",
            }
        cards = []
        for row in gaudi_csv(out):
            g = {"lost": False, "processes": []}
            for field, key in GAUDI_KEYS.items():
                text = row.get(field)
                g[key] = text if key in ("name", "uuid", "serial") else gaudi_number(text or "")
            if g.get("temp_c") is not None and g["temp_c"] > GAUDI_MAX_SANE_C:
                g["temp_c"] = None  # a broken sensor's number, not a temperature
            g["bus"] = (row.get("bus_id") or "").lower()
            g["module"] = gaudi_number(row.get("module_id") or "")
            cards.append(g)
        if self.last is not None:
            self.gap = max(0.1, min(self.slow, now - self.last))
        self.last = now
        read_at = self.detail.at
        attached, detail, driver = self.detail.get(self._detail)
        if self.detail.at == read_at:  # not read just now: recheck the cards with rows pending
            self._recheck_rows(detail)
        self.buses = [g["bus"] for g in cards]
        if self.reading_ports is None:
            import threading  # noqa: PLC0415 - see the probe's imports

            self.reading_ports = threading.Thread(target=self._read_ports, daemon=True)
            self.reading_ports.start()
        links = self.ports
        for g in cards:
            d = detail.get(g["bus"], {})
            g["power_limit_w"] = d.get("power_max_w")
            g["rows_pending"] = d.get("rows_pending")
            g["health"] = (
                gaudi_sysfs_status(d.get("accel")) or (d.get("status") or "").lower() or None
            )
            ports = links.get(g["bus"])
            if ports:
                g["links"] = len(ports)
                g["links_down"] = sorted(p for p, up in ports.items() if not up)
        got = {"gpus": cards, "source": "hl-smi", "events": []}
        if attached is not None and attached > len(cards):
            got["error"] = f"hl-smi lists {len(cards)} of the {attached} cards the driver attached"
        got["driver"] = driver
        return got

    def _detail(self):
        rc, out, _ = run(["hl-smi", "-q"], 20)  # noqa: F821
        if rc != 0:
            return None, {}, None
        driver = None
        for line in out.splitlines():
            if line.strip().startswith("Driver Version"):
                driver = line.split(":", 1)[1].strip()
                break
        attached, cards = gaudi_detail(out)
        return attached, cards, driver

    def _recheck_rows(self, detail):
        for bus, card in detail.items():
            if card.get("rows_pending"):
                cmd = ["hl-smi", "-q", "-i", bus, "-d", "ROW_REPLACEMENT"]
                rc, out, _ = run(cmd, 20)  # noqa: F821
                again = gaudi_detail(out)[1].get(bus) if rc == 0 else None
                if again is not None and "rows_pending" in again:
                    card["rows_pending"] = again["rows_pending"]

    def _read_ports(self):
        import time  # noqa: PLC0415 - see the probe's imports

        while True:
            ports = {}
            for bus in list(self.buses):
                ports[bus] = self._links(bus)
            self.ports = {bus: p for bus, p in ports.items() if p is not None}
            # until the next full round, the cards with a port down again each line
            until = time.time() + self.slow
            while time.time() < until:
                time.sleep(min(self.gap, max(0.0, until - time.time())))
                for bus, p in list(self.ports.items()):
                    if not all(p.values()):
                        again = self._links(bus)
                        if again is not None:
                            self.ports = dict(self.ports, **{bus: again})

    def _links(self, bus):
        rc, text, _ = run(["hl-smi", "-n", "link", "-i", bus], 30)  # noqa: F821
        return gaudi_links(text) if rc == 0 else None


def devices(slow):
    """This part's reader, for the probe's DEVICES (`slow`: the probe's slow period)."""
    return GaudiDevices(slow)
