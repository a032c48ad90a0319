"""A vendor's part of the probe that names its programs (Accelerator.probe_needs) travels as
text and is compiled on the node only where one of them is on PATH: a node of another
vendor never pays its compile, and one whose driver comes while the probe runs is found."""

from __future__ import annotations

import time

from console.core.accelerators import ACCELERATORS
from console.core.monitor.ssh_source import probe_script


def script() -> dict:
    names: dict = {"__name__": "probe_under_test"}
    exec(compile(probe_script(), "<probe>", "exec"), names)  # noqa: S102 - our own script
    return names


def test_a_part_is_compiled_only_once_its_program_is_on_path(tmp_path, monkeypatch):
    later = [a for a in ACCELERATORS.values() if a.probe_needs]
    assert {a.name for a in later} == {"amd", "gaudi"}
    names = script()
    assert "NvNvml" in names  # NVML needs no program: always there
    assert "GaudiDevices" not in names and "AmdDevices" not in names
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    # slow period 0: each line looks for the programs again
    readers = [make(0.0) for make in names["DEVICES"]]
    line = names["accelerators"](readers, time.time(), True)
    # no vendor at all: each says what it lacks, in the words its own part would use
    assert line["gpu_error"] == "; ".join(
        "nvidia-smi not found" if a.name == "nvidia" else f"{a.probe_needs[0]} not found"
        for a in ACCELERATORS.values()
    )
    waiting = {r.vendor: r for r in readers if r.vendor != "nvidia"}
    assert all(r.reader is None for r in waiting.values())

    hl_smi = tmp_path / "hl-smi"  # a driver installed while the probe runs
    hl_smi.write_text("#!/bin/sh\nexit 1\n")
    hl_smi.chmod(0o755)
    line = names["accelerators"](readers, time.time(), False)
    assert type(waiting["gaudi"].reader).__name__ == "GaudiDevices"
    assert waiting["amd"].reader is None
    assert "GaudiDevices" not in names  # compiled in a space of its own, the probe's names kept
    assert "hl-smi" in (line["gpu_error"] or "") or line["gpu_source"] != "none"
