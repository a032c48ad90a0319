"""A whole Gonka registration against the simulated chain, over SSH, checked against the
real response shapes (reference/protocols.md and the samples in reference/real/)."""

from __future__ import annotations

import json
import re
import time

import paramiko
import pytest

from console.sim import bech32
from tests.harness.simclient import http_json, rpc_host, run

pytestmark = pytest.mark.integration
PASSWORD = "correct-horse-battery"


def keys_of(value, depth=3):
    """The nested key structure of a JSON value, for shape comparison."""
    if isinstance(value, dict) and depth:
        return {k: keys_of(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list) and value and depth:
        return [keys_of(value[0], depth - 1)]
    return type(value).__name__


def test_cometbft_responses_have_the_real_shapes(node_access, reference, sim_fleet):
    rpc_at = rpc_host(sim_fleet.nodes["net"])
    with node_access("net").connect() as c:
        status, body = http_json(c, 26657, host=rpc_at, path="/status")
        assert status == 200
        real = json.loads(
            (reference / "real/cometbft/status_cosmoshub-4_cometbft-0.37.6.json").read_text()
        )
        assert keys_of(body) == keys_of(real)
        info = body["result"]["sync_info"]
        assert isinstance(info["latest_block_height"], str)  # 64-bit ints as strings
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", info["latest_block_time"])
        first = int(info["latest_block_height"])
        time.sleep(0.5)  # block time 0.2 s in the test fleet
        _, again = http_json(c, 26657, host=rpc_at, path="/status")
        assert int(again["result"]["sync_info"]["latest_block_height"]) > first

        _, net = http_json(c, 26657, host=rpc_at, path="/net_info")
        real_net = json.loads(
            (
                reference / "real/cometbft/net_info_pylons-3node-testnet_tendermint-0.33.3.json"
            ).read_text()
        )
        assert set(net["result"]) == set(real_net["result"])
        assert set(net["result"]["peers"][0]) == set(real_net["result"]["peers"][0])
        assert net["result"]["n_peers"] == str(len(net["result"]["peers"]))

        _, vals = http_json(c, 26657, host=rpc_at, path="/validators?per_page=2&page=1")
        real_vals = json.loads(
            (reference / "real/cometbft/validators_cosmoshub-4_h21955392_page1.json").read_text()
        )
        assert keys_of(vals) == keys_of(real_vals)
        assert len(vals["result"]["validators"]) == 2

        assert http_json(c, 26657, host=rpc_at, path="/health") == (
            200,
            {"jsonrpc": "2.0", "id": -1, "result": {}},
        )
        body = {"jsonrpc": "2.0", "id": 7, "method": "status", "params": {}}
        status, rpc = http_json(c, 26657, "POST", "/", body, rpc_at)
        assert rpc["id"] == 7 and "sync_info" in rpc["result"]
        # as with Gonka 0.2.9's compose on a real host: the RPC is not on the host's loopback
        with pytest.raises(paramiko.ChannelException):
            http_json(c, 26657, path="/status")


def test_keys_register_grant_and_add_ml_nodes(sim_fleet, node_access):
    net = sim_fleet.nodes["net"]
    chain = sim_fleet.chains["c1"]
    rpc_at = rpc_host(net)
    with node_access("net").connect() as c:
        # 1. the cold account key, then the warm (ML operational) key, in a file keyring
        rc, out, err = run(
            c,
            "inferenced keys add gonka-account-key --keyring-backend file",
            stdin=f"{PASSWORD}\n{PASSWORD}\n",
        )
        assert rc == 0, err
        cold = re.search(
            r"- address: (gonka1\w+)\n  name: gonka-account-key\n  pubkey: "
            r"'\{\"@type\":\"/cosmos.crypto.secp256k1.PubKey\",\"key\":\"([^\"]+)\"\}'"
            r"\n  type: local",
            out,
        )
        assert cold and bech32.valid(cold.group(1))
        assert "**Important** write this mnemonic phrase in a safe place." in out
        assert len(out.strip().splitlines()[-1].split()) == 24
        rc, out, err = run(
            c, "inferenced keys add ml-ops-key --keyring-backend file", stdin=f"{PASSWORD}\n"
        )
        assert rc == 0, err
        warm = re.search(r"address: (gonka1\w+)", out).group(1)
        rc, out, _ = run(
            c,
            "inferenced keys show gonka-account-key -a --keyring-backend file",
            stdin=f"{PASSWORD}\n",
        )
        assert out.strip() == cold.group(1)
        rc, _, err = run(c, "inferenced keys add x --keyring-backend file", stdin="wrong-pass\n")
        assert rc == 1 and "passphrase" in err

        # 2. register the participant with the cold key's public key
        url = f"http://{net.public_address}:8000"
        registered_in = chain.epoch()["latest_epoch"]["index"]  # or a later one, if a PoC passes
        rc, out, err = run(
            c,
            f"inferenced register-new-participant {url} {cold.group(2)} "
            "--node-address http://seed.invalid:8000",
        )
        assert rc == 0, err
        # v0.2.14's lines; its own wait misreads the v2 shape and times out (protocols)
        assert f"  Account Address: {cold.group(1)}" in out
        assert "Response status code: 200\nParticipant registration successful.\n" in out
        assert "Warning: timeout after 30s waiting for participant to be available" in out
        status, participant = http_json(
            c, 8000, path=f"/v1/participants/{cold.group(1)}", host=net.public_address
        )
        assert status == 200
        assert participant["participant"]["inference_url"] == url
        assert participant["participant"]["validator_key"] == chain.validator_key
        status, v2 = http_json(
            c, 8000, path=f"/v2/participants/{cold.group(1)}", host=net.public_address
        )
        assert status == 200 and v2["participant"]["status"] == 1  # a number: ACTIVE
        assert v2["participant"]["inference_url"] == url and "inferenceUrl" not in v2["participant"]

        # 3. grant the ML operational key its permissions
        rc, out, err = run(
            c,
            "inferenced tx inference grant-ml-ops-permissions "
            f"gonka-account-key {warm} --from gonka-account-key "
            "--keyring-backend file --gas 2000000 --node "
            "http://seed.invalid:8000/chain-rpc/",
            stdin=f"{PASSWORD}\n",
        )
        assert rc == 0, err
        assert re.search(r"Transaction sent with hash: [0-9A-F]{64}", out)
        assert "Transaction confirmed successfully!" in out
        assert re.search(r"Block height: \d+", out)
        assert warm in chain.participants[cold.group(1)].ml_ops_grantees

        # 4. the ML nodes, through the admin API
        ml1, ml2 = sim_fleet.nodes["ml1"], sim_fleet.nodes["ml2"]
        node1 = {
            "id": "ml1",
            "host": ml1.private_address,
            "inference_port": 5050,
            "poc_port": 8080,
            "max_concurrent": 500,
            "models": {"Qwen/Qwen3-32B-FP8": {"args": ["--tensor-parallel-size", "4"]}},
        }
        status, body = http_json(c, 9200, "POST", "/admin/v1/nodes", node1)
        assert status == 200 and body["id"] == "ml1"
        node2 = {**node1, "id": "ml2", "host": ml2.private_address}
        bad = {**node1, "id": "bad", "models": {"not/approved": {"args": []}}}
        assert http_json(c, 9200, "POST", "/admin/v1/nodes/batch", [node2])[0] == 201
        status, body = http_json(c, 9200, "POST", "/admin/v1/nodes/batch", [node2, bad])
        assert status == 206 and [e["node_id"] for e in body["errors"]] == ["bad"]
        assert http_json(c, 9200, "POST", "/admin/v1/nodes/batch", [bad])[0] == 400
        status, listing = http_json(c, 9200, path="/admin/v1/nodes")
        ids = [entry["node"]["id"] for entry in listing]
        assert {"ml1", "ml2"} <= set(ids)
        entry = next(e for e in listing if e["node"]["id"] == "ml1")
        assert set(entry["state"]) >= {
            "intended_status",
            "current_status",
            "poc_intended_status",
            "poc_current_status",
            "lock_count",
            "failure_reason",
            "status_timestamp",
            "admin_state",
            "epoch_models",
            "epoch_ml_nodes",
        }
        assert entry["state"]["current_status"] == "INFERENCE"
        assert http_json(c, 9200, "POST", "/admin/v1/nodes/ml2/disable") == (
            200,
            {"message": "node disabled successfully", "node_id": "ml2"},
        )
        assert http_json(c, 9200, "POST", "/admin/v1/nodes/nope/enable")[0] == 404

        # 5. the setup report sees it all; the epoch has the participant
        _, report = http_json(c, 9200, path="/admin/v1/setup/report")
        checks = {ch["id"]: ch["status"] for ch in report["checks"]}
        assert checks["permissions_granted"] == "PASS"
        assert checks["validator_in_set"] == "PASS"
        assert checks["consensus_key_match"] == "PASS"
        assert set(report) == {
            "experimental",
            "generated_at",
            "cached_until",
            "overall_status",
            "checks",
            "summary",
        }
        _, epoch = http_json(
            c, 8000, path="/v1/epochs/current/participants", host=net.public_address
        )
        active = epoch["active_participants"]
        # not in the epoch it registered in (the chain runs on meanwhile: on a loaded
        # machine a PoC may have passed since, which is the next assertion's case)
        if chain.epoch()["latest_epoch"]["index"] == registered_in:
            assert cold.group(1) not in [p["index"] for p in active["participants"]]
        chain.advance(chain.epoch_length)  # the next PoC: the new participant is in
        _, epoch = http_json(
            c, 8000, path="/v1/epochs/current/participants", host=net.public_address
        )
        assert cold.group(1) in [p["index"] for p in epoch["active_participants"]["participants"]]
        _, latest = http_json(c, 8000, path="/v1/epochs/latest", host=net.public_address)
        assert latest["phase"] in (
            "PoCGenerate",
            "PoCGenerateWindDown",
            "PoCValidate",
            "PoCValidateWindDown",
            "Inference",
        )
        assert set(latest["epoch_stages"]) >= {
            "epoch_index",
            "poc_start",
            "poc_generation_wind_down",
            "poc_generation_end",
            "poc_validation_start",
            "poc_validation_wind_down",
            "poc_validation_end",
            "set_new_validators",
            "claim_money",
            "inference_validation_cutoff",
            "next_poc_start",
            "poc_exchange_window",
            "poc_validation_exchange_window",
        }
        _, vals = http_json(c, 26657, host=rpc_at, path="/validators")
        assert chain.validator_address in [v["address"] for v in vals["result"]["validators"]]


def test_ml_node_and_inference_apis(node_access, sim_fleet):
    with node_access("ml1").connect() as c:
        assert http_json(c, 8080, path="/api/v1/state") == (200, {"state": "INFERENCE"})
        status, health = http_json(c, 8080, path="/health")
        assert status == 200 and health["status"] == "healthy"
        assert health["gpu"]["count"] == 8
        assert http_json(
            c,
            8080,
            "POST",
            "/api/v1/inference/up",
            {"model": "Qwen/Qwen3-32B-FP8", "dtype": "float16", "additional_args": []},
        ) == (200, {"status": "OK"})
        status, models = http_json(c, 5050, path="/v1/models")
        assert models["object"] == "list" and models["data"][0]["id"] == "Qwen/Qwen3-32B-FP8"
        status, done = http_json(
            c,
            5050,
            "POST",
            "/v1/chat/completions",
            {"model": "Qwen/Qwen3-32B-FP8", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert status == 200 and done["choices"][0]["finish_reason"] == "stop"
        from tests.harness.simclient import http

        status, metrics = http(c, 5050, path="/metrics")
        assert b"vllm:num_requests_running{" in metrics and b"vllm:kv_cache_usage_perc" in metrics
    with node_access("prov1").connect() as c:
        assert http_json(c, 11434, path="/api/version") == (200, {"version": "0.12.6"})
        _, tags = http_json(c, 11434, path="/api/tags")
        assert tags["models"][0]["name"] == "llama3.1:8b"
        assert set(tags["models"][0]["details"]) == {
            "parent_model",
            "format",
            "family",
            "families",
            "parameter_size",
            "quantization_level",
        }
        _, gen = http_json(
            c,
            11434,
            "POST",
            "/api/generate",
            {"model": "llama3.1:8b", "prompt": "hi", "stream": False},
        )
        assert gen["done"] is True and gen["eval_count"] >= 1 and gen["eval_duration"] > 0


def test_private_ports_listen_on_the_node_side_only(sim_fleet):
    from tests.integration.test_sim_cli import listening_on

    net = sim_fleet.nodes["net"]
    public = listening_on(net.public_address + ":")
    private = listening_on(net.private_address + ":")
    ports = {int(p.rsplit(":", 1)[1]) for p in public}
    assert ports.isdisjoint({26657, 9100, 9200, 5050, 8080})
    assert 8000 in ports  # the proxy is public
    assert {f"{net.private_address}:26657", f"{net.private_address}:9200"} <= set(private)
