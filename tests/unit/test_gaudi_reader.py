"""The Gaudi part of the probe reads hl-smi's real shapes, taken in place from the samples
in reference/accelerators.md §1.4–1.5 (CSV with and without units, the -q detail, port
states with uneven spacing), and the simulator's hl-smi writes the same shapes."""

from __future__ import annotations

import re

import pytest

from console.sim import gpus as simgpus
from console.sim.tools import hl_smi
from tests.harness.probe import assembled

probe = assembled()


def block_after(text: str, marker: str) -> str:
    """The first fenced block after `marker` in the reference's markdown."""
    at = text.index(marker)
    m = re.compile(r"```[a-z]*\n(.*?)```", re.S).search(text, at)
    assert m, marker
    return m.group(1)


@pytest.fixture(scope="module")
def accelerators_md(reference):
    return (reference / "accelerators.md").read_text()


def test_csv_with_units_in_values_and_bracketed_headers(accelerators_md):
    rows = probe.gaudi_csv(block_after(accelerators_md, "With header, no `nounits`"))
    assert [r["index"] for r in rows] == ["0", "1"]
    assert rows[1]["module_id"] == "3"  # not the index: module ids are a permutation
    assert probe.gaudi_number(rows[0]["memory.total"]) == 131072  # "131072 MiB"
    assert probe.gaudi_number(rows[0]["memory.used"]) == 672


def test_csv_without_units(accelerators_md):
    (row,) = probe.gaudi_csv(block_after(accelerators_md, "With header and `nounits`"))
    assert row["name"] == "HL-205" and probe.gaudi_number(row["power.draw"]) == 103
    assert probe.gaudi_number(row["temperature.aip"]) == 36
    assert probe.gaudi_number("N/A") is None and probe.gaudi_number("") is None


def test_the_detail_gives_status_cap_and_row_replacement(accelerators_md):
    text = block_after(accelerators_md, "`hl-smi -q` / `hl-smi -L -i <bus>` detail")
    attached, cards = probe.gaudi_detail(text)
    assert attached == 8
    card = cards["0000:43:00.0"]
    # the 54 V rail's Power Max, not the 12 V rail's
    assert card == {
        "accel": "accel0",
        "status": "Operational",
        "power_max_w": 550,
        "rows_pending": False,
    }


def test_port_states_with_their_uneven_spacing(accelerators_md):
    text = block_after(accelerators_md, "Port state (`hl-smi -n link")
    ports = probe.gaudi_links(text.replace("...\n", "port 12:   DOWN\n"))
    assert ports[0] and ports[21] and ports[12] is False
    assert probe.gaudi_links("port 7: UP\nport 10:        UP\n") == {7: True, 10: True}


def test_the_simulators_hl_smi_speaks_the_same_shapes():
    faults = simgpus.GpuFaults(missing=7, status=(3, "disabled"), ports_down=(2, (5, 7)))
    snap = simgpus.readings("n1", 8, "Gaudi 3", True, 0.0, faults)
    out = hl_smi.query(snap, probe.GAUDI_FIELDS.split(","), "csv")
    rows = probe.gaudi_csv(out)
    assert len(rows) == 7 and rows[0]["name"] == "HL-325L"  # card 7 never came up
    assert out.splitlines()[0].split(", ")[7] == "memory.used [MiB]"
    assert rows[0]["memory.total"] == "131072 MiB"
    nounits = probe.gaudi_csv(hl_smi.query(snap, ["index", "power.draw"], "csv,nounits"))
    assert nounits[0]["power.draw"].isdigit()
    attached, cards = probe.gaudi_detail(hl_smi.detail(snap, None))
    assert attached == 7 and cards[snap.gpus[3].pci_bus_id]["status"] == "Disabled"
    text, rc = hl_smi.links(snap, snap.gpus[2].pci_bus_id)
    assert rc == 0 and sorted(p for p, up in probe.gaudi_links(text).items() if not up) == [5, 7]
