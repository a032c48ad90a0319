"""The AMD part of the probe reads amd-smi's and rocm-smi's real shapes: the MI300X sample
of reference/accelerators.md §2.1 (taken in place) in both envelopes and after a warning
line, missing values as "N/A" or null, rocm-smi's strings and one-element lists, and the
amdgpu driver's kernel lines; the simulator's amd-smi is held to the same reader."""

from __future__ import annotations

import json
import re

import pytest

from console.sim import gpus as simgpus
from console.sim.tools import amd_smi
from tests.harness.probe import assembled

probe = assembled()


@pytest.fixture(scope="module")
def mi300x_sample(reference) -> str:
    text = (reference / "accelerators.md").read_text()
    at = text.index("MI300X-shaped sample")
    return re.compile(r"```json\n(.*?)```", re.S).search(text, at).group(1)


def test_the_reference_sample_in_both_envelopes_and_after_a_warning(mi300x_sample):
    bare = json.loads(mi300x_sample)
    for out in (
        mi300x_sample,
        json.dumps({"gpu_data": bare}),
        "WARNING: amd_smi not in render group\n" + mi300x_sample,
    ):
        (gpu,) = probe.amd_metric(probe.amd_json(out))
        assert gpu["index"] == 0 and gpu["util"] == 87
        assert (gpu["mem_used_mib"], gpu["mem_total_mib"]) == (121344, 196592)
        assert gpu["temp_c"] == 71  # the hotspot (junction), not the edge's 52
        assert gpu["power_w"] == 542


def test_missing_values_are_none_not_errors():
    doc = [
        {
            "gpu": 1,
            "usage": {"gfx_activity": "N/A"},
            "mem_usage": {"used_vram": {"value": None, "unit": "MB"}},
            "temperature": {"hotspot": "N/A", "edge": {"value": 40, "unit": "C"}},
            "power": {"average_socket_power": {"value": 300, "unit": "W"}},  # an MI2xx's
            "ecc": {"total_uncorrectable_count": 3},
        },
        {"gpu": "N/A"},  # no index: not a device
        "garbage",
    ]
    (gpu,) = probe.amd_metric(doc)
    assert gpu["util"] is None and gpu["mem_used_mib"] is None
    assert gpu["temp_c"] == 40 and gpu["power_w"] == 300 and gpu["ecc_uncorrected"] == 3


def test_rocm_smi_strings_and_one_element_lists():
    doc = {
        "card0": {
            "Temperature (Sensor junction) (C)": ["61.0"],
            "Current Socket Graphics Package Power (W)": "542.0",
            "Max Graphics Package Power (W)": "750.0",
            "GPU use (%)": "99",
            "VRAM Total Memory (B)": "206141652992",
            "VRAM Total Used Memory (B)": "127238422528",
            "Card Series": "AMD Instinct MI300X",
        },
        "system": {"Driver version": "6.10.5"},
    }
    (gpu,) = probe.amd_rocm_smi(doc)
    assert (gpu["index"], gpu["util"], gpu["temp_c"]) == (0, 99, 61)
    assert (gpu["power_w"], gpu["power_limit_w"]) == (542, 750)
    assert gpu["mem_total_mib"] == 196592 and gpu["mem_used_mib"] == 121344


def test_the_drivers_kernel_lines_are_events(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    now = datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()
    (tmp_path / "kmsg").write_text(
        "2027-01-15T07:59:50,000000+00:00 amdgpu 0000:e3:00.0: amdgpu: uncorrectable hardware"
        " error(ERREVENT_ATHUB_INTERRUPT) detected!\n"
        "2027-01-15T07:59:51,000000+00:00 amdgpu 0000:e3:00.0: amdgpu: GPU reset begin!\n"
        "2027-01-15T07:59:52,000000+00:00 eth0: link up\n"
        "2027-01-15T06:00:00,000000+00:00 amdgpu 0000:e3:00.0: amdgpu: GPU reset begin!\n"
    )
    for tool, body in (("journalctl", "exit 1\n"), ("dmesg", f'cat "{tmp_path}/kmsg"\n')):
        (tmp_path / tool).write_text("#!/bin/sh\n" + body)
        (tmp_path / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    found = probe.amd_kernel_events(now, 600)
    assert [(e["bus"], e["code"]) for e in found] == [("0000:e3:00.0", 2), ("0000:e3:00.0", 1)]


def test_the_simulators_amd_smi_speaks_the_same_shapes():
    snap = simgpus.readings("n1", 8, "MI300X", True, 0.0, simgpus.GpuFaults(missing=7))
    gpus = [g for g in snap.gpus if not g.missing]
    doc = probe.amd_json(
        amd_smi.WARNING + "\n" + json.dumps({"gpu_data": [amd_smi.metric(g) for g in gpus]})
    )
    read = probe.amd_metric(doc)
    assert len(read) == 7 and {g["mem_total_mib"] for g in read} == {196592}
    names = probe.amd_static([amd_smi.static(g) for g in gpus])
    assert names[0]["name"] == "Instinct MI300X" and names[0]["bus"] == gpus[0].pci_bus_id
