"""The NVIDIA part of the probe reads NVML through ctypes itself (not pynvml, whose import
cost each probe start ~20 ms). Its structs, buffer sizes and C names are checked against
nvidia-ml-py, NVIDIA's own binding, and its readings against what pynvml reads from the
same library: the simulator's libnvidia-ml.so.1, with a lost GPU, throttling, ECC errors,
processes, and an Xid event that comes while it listens."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pynvml
import pytest

from console.core.accelerators import ACCELERATORS
from console.sim import gpus, nvml
from console.sim.gpus import GpuFaults
from tests.harness.probe import assembled

REPO = Path(__file__).resolve().parents[2]
PART = ACCELERATORS["nvidia"].probe_part
probe = assembled()


def test_the_structs_are_laid_out_as_nvidia_ml_py_lays_them_out():
    utilization, memory, process, event = probe.nv_structs(ctypes)
    theirs = (
        pynvml.c_nvmlUtilization_t,
        pynvml.c_nvmlMemory_t,
        pynvml.c_nvmlProcessInfo_v3_t,
        pynvml.c_nvmlEventData_t,
    )
    for mine, reference in zip((utilization, memory, process, event), theirs, strict=True):
        assert ctypes.sizeof(mine) == ctypes.sizeof(reference), mine.__name__
        for (name, kind), (their_name, their_kind) in zip(
            mine._fields_, reference._fields_, strict=True
        ):
            assert name == their_name
            assert ctypes.sizeof(kind) == ctypes.sizeof(their_kind), name
            assert getattr(mine, name).offset == getattr(reference, name).offset, name


def test_the_buffers_and_constants_are_nvml_h_s():
    pairs = {
        "NV_NAME_BYTES": pynvml.NVML_DEVICE_NAME_V2_BUFFER_SIZE,
        "NV_UUID_BYTES": pynvml.NVML_DEVICE_UUID_V2_BUFFER_SIZE,
        "NV_DRIVER_BYTES": pynvml.NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE,
        "NV_XID_EVENT": pynvml.nvmlEventTypeXidCriticalError,
        "NV_INSUFFICIENT_SIZE": pynvml.NVML_ERROR_INSUFFICIENT_SIZE,
        "NV_TIMEOUT": pynvml.NVML_ERROR_TIMEOUT,
        "NV_FUNCTION_NOT_FOUND": pynvml.NVML_ERROR_FUNCTION_NOT_FOUND,
        "NV_NOT_AVAILABLE": pynvml.NVML_VALUE_NOT_AVAILABLE_ulonglong.value,
        "NV_TEMPERATURE_GPU": pynvml.NVML_TEMPERATURE_GPU,
        "NV_UNCORRECTED": pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
        "NV_VOLATILE": pynvml.NVML_VOLATILE_ECC,
    }
    assert {name: getattr(probe, name) for name in pairs} == pairs
    missing = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
    assert probe.NV_WORDS[missing] == str(pynvml.NVMLError(missing))


def test_every_c_name_it_calls_is_one_nvidia_ml_py_calls():
    called = set(re.findall(r'"(nvml[A-Za-z0-9_]+)"', PART.read_text()))
    assert len(called) >= 18, called
    source = Path(pynvml.__file__).read_text()
    known = set(re.findall(r'_nvmlGetFunctionPointer\("(nvml\w+)"\)', source))
    assert called <= known, called - known


# run where the fake library is found by its name, as the driver's is on a node
READ = """
import json, sys, time
sys.path.insert(0, {repo!r})
import pynvml as n
from tests.harness.probe import assembled

probe = assembled()
ours = probe.NvNvml()
mine = ours.read()


def get(fn, *args):
    try:
        return fn(*args)
    except n.NVMLError:
        return None


def theirs():  # the probe's reader as it was on pynvml, for the same fields
    out = []
    for i in range(n.nvmlDeviceGetCount()):
        try:
            h = n.nvmlDeviceGetHandleByIndex(i)
        except n.NVMLError as exc:
            out.append({{"index": i, "lost": True, "error": str(exc)}})
            continue
        util, mem = get(n.nvmlDeviceGetUtilizationRates, h), get(n.nvmlDeviceGetMemoryInfo, h)
        power = get(n.nvmlDeviceGetPowerUsage, h)
        limit = get(n.nvmlDeviceGetEnforcedPowerLimit, h)
        out.append({{
            "index": i, "lost": False,
            "name": get(n.nvmlDeviceGetName, h), "uuid": get(n.nvmlDeviceGetUUID, h),
            "util": util.gpu, "mem_used_mib": mem.used >> 20, "mem_total_mib": mem.total >> 20,
            "temp_c": get(n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU),
            "power_w": round(power / 1000.0, 1), "power_limit_w": round(limit / 1000.0, 1),
            "throttle": probe.nv_reasons(get(n.nvmlDeviceGetCurrentClocksEventReasons, h)),
            "ecc_uncorrected": get(
                n.nvmlDeviceGetTotalEccErrors, h,
                n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, n.NVML_VOLATILE_ECC,
            ),
            "processes": [
                {{"pid": p.pid, "mem_mib": (p.usedGpuMemory or 0) >> 20}}
                for p in get(n.nvmlDeviceGetComputeRunningProcesses, h) or []
            ],
        }})
    return out


n.nvmlInit()
listening = ours.listening.wait(30)  # an Xid from before it listened is not an event
print(json.dumps({{"ours": mine, "theirs": theirs(), "driver": ours.driver,
                  "their_driver": n.nvmlSystemGetDriverVersion(), "listening": listening}}),
      flush=True)
# an Xid that comes while the probe listens (the test writes it once this line is out)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    xids = ours.take_xids()
    if xids:
        print(json.dumps(xids), flush=True)
        break
    time.sleep(0.05)
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    lib = nvml.build(tmp_path_factory.mktemp("nvml"))
    if lib is None:
        pytest.skip("no C compiler for the simulator's NVML library")
    return lib


def test_it_reads_what_pynvml_reads_from_the_same_library_and_hears_an_xid(library, tmp_path):
    faults = GpuFaults(hot=True, fallen_off_bus=3, ecc_uncorrectable=5)
    readings = tmp_path / "gpus.txt"
    snapshot = gpus.readings("n1", 8, "H100", True, 1_700_000_000.0, faults)
    gpus.write(readings, snapshot)
    env = {"LD_LIBRARY_PATH": str(library.parent), "FLEETDECK_SIM_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", READ.format(repo=str(REPO))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        got = json.loads(line)
        assert got["listening"]
        assert got["ours"] == got["theirs"]
        assert got["driver"] == got["their_driver"] == snapshot.driver_version
        ours = {g["index"]: g for g in got["ours"]}
        # what each fault shows as, so that the comparison above covers something
        assert ours[3] == {"index": 3, "lost": True, "error": "GPU is lost"}
        assert ours[5]["ecc_uncorrected"] == 3 and ours[0]["ecc_uncorrected"] == 0
        assert ours[0]["throttle"] == ["sw_thermal_slowdown", "hw_thermal_slowdown"]
        assert ours[0]["temp_c"] == 92 and ours[0]["name"] == snapshot.gpus[0].name
        pid, used = snapshot.gpus[1].processes[0]
        assert ours[1]["processes"] == [{"pid": pid, "mem_mib": used}]
        assert ours[1]["mem_total_mib"] == snapshot.gpus[1].memory_total_mib

        faults.xid_events.append((1, 2, 48))
        gpus.write(readings, gpus.readings("n1", 8, "H100", True, 1_700_000_001.0, faults))
        (event,) = json.loads(proc.stdout.readline() or "[]")
        assert (event["gpu"], event["code"]) == (2, 48)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(
    ctypes.util.find_library("nvidia-ml") is not None, reason="this machine has NVML"
)
def test_without_the_library_it_says_so_in_nvml_s_words():
    script = (
        "import sys, ctypes\n"
        f"names = {{}}\nexec(compile(open({str(PART)!r}).read(), 'p', 'exec'), names)\n"
        "try:\n    names['NvNvml']()\nexcept names['NvError'] as exc:\n"
        "    print(exc.code, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "/nonexistent"},
    )
    assert out.stdout.strip() == "12 NVML Shared Library Not Found", out.stderr
