"""The simulator's node tools against the real formats captured in reference/real/."""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout

import pytest

from console.sim import bech32, gpus
from console.sim.gpus import GpuFaults
from console.sim.tools import nvidia_smi


@pytest.fixture
def node_home(tmp_path, monkeypatch):
    sim = tmp_path / ".sim"
    sim.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FLEETDECK_SIM_DIR", raising=False)
    return sim


def smi(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        rc = nvidia_smi.main(list(args))
    return rc, out.getvalue()


def write(sim, count=8, busy=True, faults=None, gpu_type="H100"):
    snap = gpus.readings("n1", count, gpu_type, busy, time.time(), faults or GpuFaults())
    gpus.write(sim / "gpus.txt", snap)
    return snap


def test_query_headers_and_units_match_a_real_h100(node_home, reference):
    real = reference / "real/nvidia-smi/nvidia-smi_query-gpu_csv_H100-80GB-HBM3_load.csv"
    header, row = real.read_text().splitlines()[:2]
    real_columns = header.split(", ")
    real_values = dict(zip(real_columns, row.split(", "), strict=True))
    write(node_home)
    canonical = sorted({spec[0] for spec in nvidia_smi.FIELDS.values()} - {"count"})
    rc, out = smi(f"--query-gpu={','.join(canonical)}", "--format=csv")
    assert rc == 0
    ours_header, ours_row = out.splitlines()[:2]
    ours = dict(zip(ours_header.split(", "), ours_row.split(", "), strict=True))
    for column, value in ours.items():
        assert column in real_columns, f"{column} is not a real nvidia-smi column"
        real_value = real_values[column]
        # same unit suffix, same shape of value (hex width, integer, two decimals)
        if "[" in column:
            unit = column.split("[")[1].rstrip("]")
            if not real_value.startswith("["):
                assert value.endswith(f" {unit}") and real_value.endswith(f" {unit}"), column
                number = value.removesuffix(f" {unit}")
                real_number = real_value.removesuffix(f" {unit}")
                assert ("." in number) == ("." in real_number), (column, value, real_value)
        elif real_value.startswith("0x"):
            assert len(value) == len(real_value) and value.startswith("0x")
        elif real_value.isdigit():
            assert value.isdigit(), (column, value)


def test_noheader_nounits_and_selection(node_home):
    snap = write(node_home)
    rc, out = smi(
        "--query-gpu=index,memory.used,power.draw", "--format=csv,noheader,nounits", "-i", "1,2"
    )
    assert rc == 0
    g1 = snap.gpus[1]
    assert out.splitlines()[0] == f"1, {g1.memory_used_mib}, {g1.power_draw_w:.2f}"
    assert len(out.splitlines()) == 2


def test_unknown_field_and_bad_format_fail_like_nvidia_smi(node_home):
    write(node_home)
    assert smi("--query-gpu=nope", "--format=csv") == (
        2,
        'Field "nope" is not a valid field to query.\n\n',
    )
    assert smi("--query-gpu=index", "--format=xml")[0] == 2


def test_no_driver_and_lost_gpu(node_home):
    rc, out = smi("-L")
    assert rc == 9 and "couldn't communicate with the NVIDIA driver" in out
    write(node_home, faults=GpuFaults(fallen_off_bus=2))
    rc, out = smi("-L")
    assert rc == 0 and len(out.splitlines()) == 7 and "GPU 2:" not in out
    rc, out = smi("--query-gpu=index", "--format=csv,noheader")
    assert rc == 15
    assert "Unable to determine the device handle for GPU0000:38:00.0: GPU is lost." in out


def test_default_table_is_91_columns_wide(node_home):
    write(node_home, count=2)
    rc, out = smi()
    lines = out.splitlines()
    assert rc == 0
    assert all(len(line) == 91 for line in lines[1:] if line.strip())
    assert "| NVIDIA-SMI 570.133.20" in lines[2] and "CUDA Version: 12.8" in lines[2]
    assert sum("NVIDIA H100 80GB HBM3" in line for line in lines) == 2


def test_hot_gpu_reports_thermal_slowdown(node_home):
    write(node_home, faults=GpuFaults(hot=True))
    rc, out = smi(
        "--query-gpu=temperature.gpu,clocks_event_reasons.active,"
        "clocks_event_reasons.hw_thermal_slowdown",
        "--format=csv,noheader",
    )
    assert out.splitlines()[0] == "92, 0x0000000000000060, Active"


def test_readings_file_round_trips():
    snap = gpus.readings(
        "n1", 4, "A100", True, 1000.0, GpuFaults(ecc_uncorrectable=1, xid_events=[(1, 1, 48)])
    )
    assert gpus.load(gpus.dump(snap)) == snap


def test_bech32_matches_real_gonka_addresses(reference):
    # (the keys-list docs example carries a mistyped address: its checksum fails)
    keys = reference / "real/gonka/docs_examples/inferenced_keys_add_cold_key_output.txt"
    address = keys.read_text().split("address: ")[1].split()[0]
    assert bech32.valid(address)
    mainnet = json.loads(
        (
            reference / "real/gonka/tracker_test_data_87901dd/current_epoch_participants.json"
        ).read_text()
    )
    for p in mainnet["active_participants"]["participants"]:
        assert bech32.valid(p["index"]), p["index"]
    assert not bech32.valid(address[:-1] + ("q" if address[-1] != "q" else "p"))
    encoded = bech32.encode("gonka", bytes(range(20)))
    assert encoded.startswith("gonka1") and bech32.valid(encoded)


def test_participants_endpoint_shape_matches_mainnet(reference):
    """The epoch participants our chain emulator serves have the mainnet record's keys."""
    real = json.loads(
        (
            reference / "real/gonka/tracker_test_data_87901dd/current_epoch_participants.json"
        ).read_text()
    )
    participant = real["active_participants"]["participants"][0]
    from console.sim.chain import ChainSim

    chain = ChainSim("gonka-test", "net")
    p = chain.register("http://x:8000", "A" + "Q" * 43, models=["Qwen/Qwen3-32B-FP8"])
    assert p.address.startswith("gonka1") and bech32.valid(p.address)
    ours = {"index", "validator_key", "weight", "inference_url", "models", "seed", "ml_nodes"}
    assert ours == set(participant)
    assert set(real["active_participants"]) >= {
        "participants",
        "epoch_group_id",
        "poc_start_block_height",
        "epoch_id",
    }
