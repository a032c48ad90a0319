"""The Gonka deploy over real OpenSSH: 2 clusters × (1 network + 2 ML nodes), every host a
real sshd in its own network namespace with a simulated node behind it (GPUs, docker,
ufw, hf, chain). fleetdeck runs as the operator runs it, `fleetdeck run … deploy`.

The tests run in order and share the fleet: refused profile → full deploy → idempotent
rerun → a node lost mid-run and resumed → no secret anywhere.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from console.core.profile import load
from console.core.stacks.gonka import GONKA
from console.sim import tools
from tests.conftest import unavailable
from tests.harness.deployfleet import deploy_fleet as deploy_fleet_on
from tests.harness.netns import netns_available

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
# quotes, backslashes, $, spaces and a newline: every form a secret can take on its way out
SECRET = "s3cret 'Keyring' \"$Passw0rd\" \\7f3a $(id)\nsecond-line-7f3a"
# what must never be seen outside the node's config.env: the secret written any way
LEAKS = ("Passw0rd", "second-line-7f3a", "s3cret")
OUTPUTS: list[str] = []  # everything fleetdeck printed in this module, searched for secrets


@pytest.fixture(scope="module")
def deploy_fleet(tmp_path_factory, client_key):
    reason = netns_available()
    if reason:
        unavailable(reason)
    with deploy_fleet_on(tmp_path_factory.mktemp("deploy"), client_key, SECRET) as d:
        yield d.fleet, d.hosts, d.env, d.root


def fleetdeck(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "console.app.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,  # as from cron or CI: never a terminal
        timeout=timeout,
    )
    OUTPUTS.append(proc.stdout + proc.stderr)
    return proc


def sourced(env_file: Path) -> dict[str, str]:
    """The variables a shell gets from `. config.env` (values may hold newlines)."""
    out = subprocess.run(
        ["env", "-i", "sh", "-c", '. "$1" && env -0', "sh", str(env_file)],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def leaked(text: str) -> list[str]:
    return [piece for piece in LEAKS if piece in text]


def journal_db(root: Path) -> Path:
    return root / "state" / "fleetdeck" / "journal.sqlite"


def step_rows(root: Path, run_id: str) -> dict[tuple[str, str], tuple[str, int]]:
    with contextlib.closing(sqlite3.connect(journal_db(root))) as db:  # no reader left open
        rows = db.execute(
            "SELECT node, step, state, attempts FROM steps WHERE run_id=?", (run_id,)
        ).fetchall()
    return {(n, s): (st, a) for n, s, st, a in rows}


def when_running(root: Path, node: str, step: str, then, timeout: float = 240) -> None:
    """Call `then` once the newest run's `step` on `node` applies its change: running, with
    the change its check found journalled (the check is over, the wait has begun)."""
    deadline = time.monotonic() + timeout
    query = "SELECT state, summary FROM steps WHERE node=? AND step=? ORDER BY rowid DESC"
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(journal_db(root))) as db,
        ):
            row = db.execute(query, (node, step)).fetchone()
            if row and row[0] == "running" and row[1]:
                break
        time.sleep(0.05)
    then()


def run_id_of(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("run ") and ":" in line:
            return line.split()[1].rstrip(":")
    raise AssertionError(f"no run id in:\n{output}")


def test_an_invalid_profile_is_refused_before_any_node_is_touched(deploy_fleet, tmp_path):
    fleet, hosts, env, root = deploy_fleet
    broken = tmp_path / "broken.toml"
    text = fleet.profile_path.read_text().replace("[stack]\n", "[stack]\nreop = 'typo'\n", 1)
    broken.write_text(text)
    logs = {name: h.host.log.stat().st_size for name, h in hosts.items()}
    for command in (["plan", str(broken), "deploy"], ["run", str(broken), "deploy", "--yes"]):
        proc = fleetdeck(env, *command)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"{broken}:" in proc.stderr and "stack.reop" in proc.stderr, proc.stderr
        assert "nothing was run" in proc.stderr
    for name, h in hosts.items():  # no sshd saw a connection, no file was written
        assert h.host.log.stat().st_size == logs[name], name
        assert not (h.host.sandbox / ".sim" / "ufw.json").exists()
        assert not (h.host.sandbox / "gonka").exists()
    assert not journal_db(root).exists()


def test_full_deploy_reaches_the_expected_end_state(deploy_fleet):
    fleet, hosts, env, root = deploy_fleet
    plan = fleetdeck(env, "plan", str(fleet.profile_path), "deploy", "--json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    doc = json.loads(plan.stdout)
    assert doc["counts"]["change"] > 30 and "error" not in doc["counts"], doc["counts"]
    # the plan shows each cluster's own participant values in its config.env
    diffs = {i["node"]: i["diff"] for i in doc["items"] if i["step"] == "configuration"}
    assert "+export KEY_NAME=ml-ops-key" in diffs["c1-net"], diffs["c1-net"]
    assert "+export KEY_NAME=c2-ml-ops-key" in diffs["c2-net"], diffs["c2-net"]
    assert "+export PUBLIC_URL=http://c2.participant.invalid:8000" in diffs["c2-net"]

    proc = fleetdeck(env, "run", str(fleet.profile_path), "deploy", "--yes")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "succeeded" in proc.stdout
    profile = load(fleet.profile_path).model
    for cluster, node in profile.all_nodes():
        home = hosts[node.name].host.sandbox
        sim = fleet.nodes[node.name]
        running = {c.name for c in sim.containers.snapshot() if c.state == "running"}
        assert running == set(sim.deployed_containers()), (node.name, running)
        # models present, with a config.json that parses
        for model in [node.model] if node.model else []:
            snaps = list(
                (home / "hf" / "hub").glob(f"models--{model.replace('/', '--')}/snapshots/*")
            )
            assert (
                snaps
                and json.loads((snaps[0] / "config.json").read_text())["_name_or_path"] == model
            )
        join = home / "gonka" / "deploy" / "join"
        # private ports bound to the loopback and the private address, none on every
        # interface (docker's rules pass ufw by), through fleetdeck's compose override
        bindings = {c.name: c.bindings() for c in sim.containers.snapshot()}
        assert {c: GONKA.exposed(b) for c, b in bindings.items() if GONKA.exposed(b)} == {}
        assert "ports: !override" in (join / "docker-compose.fleetdeck.yml").read_text()
        if node.role == "network":
            assert set(bindings["api"]) == {
                (9100, "127.0.0.1", 9100),
                (9100, node.host, 9100),
                (9200, "127.0.0.1", 9200),
            }
        else:
            assert (5000, node.host, 5050) in bindings["inference"]
            assert (8080, "127.0.0.1", 8080) in bindings["inference"]
        env_file = join / "config.env"
        assert env_file.stat().st_mode & 0o777 == 0o600
        values = sourced(env_file)
        assert values["HF_HOME"] == str(home / "hf")
        assert values["PORT"] == "8080" and values["INFERENCE_PORT"] == "5050"
        ufw = json.loads((home / ".sim" / "ufw.json").read_text())
        assert ufw["enabled"] and ufw["default_incoming"] == "deny"
        rules = {(r["port"], r["proto"], r["from"]) for r in ufw["rules"]}
        if node.role == "network":
            assert values["KEYRING_PASSWORD"] == SECRET
            # each cluster is a participant of its own: c2 sets its keys and URL over [stack]
            if cluster.name == "c2":
                assert values["KEY_NAME"] == "c2-ml-ops-key"
                assert values["ACCOUNT_PUBKEY"] == "AxkR2lm0Q9cY4vKq3y1sW7pTnEuHbGa5dJfZo8iLrXVe"
                assert values["PUBLIC_URL"] == "http://c2.participant.invalid:8000"
                assert values["P2P_EXTERNAL_ADDRESS"] == "tcp://c2.participant.invalid:5000"
            else:
                assert values["KEY_NAME"] == "ml-ops-key"
                assert values["ACCOUNT_PUBKEY"] == profile.stack.account_pubkey
                assert values["PUBLIC_URL"] == f"http://{node.host}:8000"
                assert values["P2P_EXTERNAL_ADDRESS"] == f"tcp://{node.host}:5000"
            assert values["DAPI_API__POC_CALLBACK_URL"] == f"http://{node.host}:9100"
            assert rules == {
                ("22", "tcp", "Anywhere"),
                ("5000", "tcp", "Anywhere"),
                ("8000", "tcp", "Anywhere"),
                ("8443", "tcp", "Anywhere"),
            }
            entries = json.loads((join / "node-config.json").read_text())
            served = [n for n in cluster.nodes if n.model]
            assert [e["id"] for e in entries] == [n.name for n in served]
            for e, n in zip(entries, served, strict=True):
                assert list(e["models"]) == [n.model]
                assert e["models"][n.model]["args"] == profile.models[n.model].args
                local = n.name == node.name
                assert e["host"] == ("inference" if local else n.host)
                assert (e["inference_port"], e["poc_port"]) == ((5000 if local else 5050), 8080)
                assert e["hardware"] == [{"type": n.gpu_type, "count": n.gpus}]
        else:
            assert "KEYRING_PASSWORD" not in values  # ML nodes never hold the secret
            net = next(n for n in cluster.nodes if n.role == "network").host
            assert rules == {("22", "tcp", "Anywhere"), ("5050", "tcp", net), ("8080", "tcp", net)}
        # the clone sits at the pinned tag
        head = subprocess.run(
            ["git", "-C", str(home / "gonka"), "describe", "--tags"], capture_output=True, text=True
        ).stdout.strip()
        assert head == "v0.2.14-sim"


def test_running_the_deploy_again_changes_nothing(deploy_fleet):
    fleet, hosts, env, root = deploy_fleet
    plan = fleetdeck(env, "plan", str(fleet.profile_path), "deploy", "--json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    counts = json.loads(plan.stdout)["counts"]
    assert counts.get("change", 0) == 0 and counts.get("error", 0) == 0, counts
    text = fleetdeck(env, "plan", str(fleet.profile_path), "deploy")
    assert "nothing to change" in text.stdout

    mtimes = {
        p: p.stat().st_mtime_ns
        for h in hosts.values()
        for p in (h.host.sandbox / "gonka" / "deploy" / "join").glob("*")
    }
    proc = fleetdeck(env, "run", str(fleet.profile_path), "deploy", "--yes")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    states = {state for state, _ in step_rows(root, run_id_of(proc.stdout)).values()}
    assert states <= {"unchanged", "skipped"}, states
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes  # not even rewritten


def test_without_a_terminal_run_asks_for_yes_and_changes_nothing(deploy_fleet):
    fleet, hosts, env, root = deploy_fleet
    config = hosts["c1-ml2"].host.sandbox / "gonka" / "deploy" / "join" / "config.env"
    config.unlink()  # something to change
    ufw_file = hosts["c1-ml2"].host.sandbox / ".sim" / "ufw.json"
    ufw = json.loads(ufw_file.read_text())
    ufw["rules"].append({"action": "ALLOW", "port": "9200", "proto": "tcp", "from": "Anywhere"})
    ufw_file.write_text(json.dumps(ufw))  # someone opened the admin port to the world
    proc = fleetdeck(env, "run", str(fleet.profile_path), "deploy")  # stdin is not a tty
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr
    assert "~ configuration" in proc.stdout  # the plan was shown
    assert "not a terminal; pass --yes to run without asking" in proc.stderr
    assert not config.exists()
    done = fleetdeck(env, "run", str(fleet.profile_path), "deploy", "--yes", "--limit", "c1-ml2")
    assert done.returncode == 0 and config.stat().st_mode & 0o777 == 0o600
    rules = {(r["port"], r["from"]) for r in json.loads(ufw_file.read_text())["rules"]}
    assert ("9200", "Anywhere") not in rules and ("22", "Anywhere") in rules
    assert "c1-net" not in done.stdout  # --limit: the other nodes were not touched


def test_a_node_lost_mid_run_fails_alone_and_resume_completes_only_what_is_missing(
    deploy_fleet,
):
    fleet, hosts, env, root = deploy_fleet
    # work for two nodes: c1-ml1 lost its containers; c2-ml2 its model and containers, and
    # its download is slow enough to lose the host in the middle of it
    for name in ("c1-ml1", "c2-ml2"):
        sim = fleet.nodes[name]
        for c in ("inference", "mlnode-308"):
            sim.containers.stop(c, 0)
        sim.reconcile()
    victim = hosts["c2-ml2"]
    model_dir = victim.host.sandbox / "hf" / "hub" / "models--Qwen--Qwen3-32B-FP8"
    subprocess.run(["rm", "-rf", str(model_dir)], check=True)
    (victim.host.sandbox / ".sim" / "hf.json").write_text(json.dumps({"delay": 6}))

    args = [sys.executable, "-m", "console.app.cli", "run", str(fleet.profile_path), "deploy"]
    proc = subprocess.Popen(
        [*args, "--yes", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    events, killed = [], False
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        events.append(event)
        if (
            not killed
            and event.get("node") == "c2-ml2"
            and event.get("step") == "models"
            and event["event"] == "progress"
        ):
            victim.host.stop()  # the listener and every session: the host is gone
            killed = True
    err = proc.stderr.read() if proc.stderr else ""
    OUTPUTS.append("\n".join(json.dumps(e) for e in events) + err)
    assert proc.wait(60) == 4, err
    assert killed, "the download never reported progress"
    result = events[-1]
    run_id = result["run"]
    assert result["outcome"] == "failed"
    rows = step_rows(root, run_id)
    assert rows[("c2-ml2", "models")] == ("failed", 4)  # 1 try + 3 retries
    assert rows[("c2-ml2", "ml-nodes")][0] == "pending"
    assert rows[("c1-ml1", "ml-nodes")] == ("done", 1)  # the other nodes finished
    assert all(rows[(n, "validation")][0] == "unchanged" for n in hosts if n != "c2-ml2")
    failed = [e for e in events if e["event"] == "state" and e["state"] == "failed"]
    assert {e["node"] for e in failed} == {"c2-ml2"}

    victim.host.start()
    (victim.host.sandbox / ".sim" / "hf.json").unlink()
    before = step_rows(root, run_id)
    resumed = fleetdeck(
        env, "run", str(fleet.profile_path), "deploy", "--yes", "--json", "--resume", run_id
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    lines = [json.loads(x) for x in resumed.stdout.splitlines()]
    assert lines[-1]["outcome"] == "succeeded" and lines[-1]["run"] == run_id
    touched = {e["node"] for e in lines if e["event"] == "state" and e.get("state") == "running"}
    assert touched == {"c2-ml2"}
    after = step_rows(root, run_id)
    for key, (state, attempts) in before.items():
        if key[0] != "c2-ml2" or state in ("done", "unchanged", "skipped"):
            assert after[key] == (state, attempts), key  # finished steps were not run again
    assert after[("c2-ml2", "models")][0] == "done"
    assert after[("c2-ml2", "ml-nodes")][0] == "done"
    running = {c.name for c in fleet.nodes["c2-ml2"].containers.snapshot() if c.state == "running"}
    assert running == {"mlnode-308", "inference"}


def test_a_host_missing_ufw_and_compose_gets_them_and_docker_compose_stands_in(deploy_fleet):
    fleet, hosts, env, root = deploy_fleet
    name, host = "c2-ml1", hosts["c2-ml1"].host
    home, sim = host.sandbox, fleet.nodes["c2-ml1"]
    apt = home / ".sim" / "apt.json"

    def lose_containers() -> None:  # something for compose to bring up again
        for c in ("inference", "mlnode-308"):
            sim.containers.stop(c, 0)
        sim.reconcile()

    def deploy() -> list[str]:
        before = len(host.commands_log.read_text().splitlines())
        done = fleetdeck(env, "run", str(fleet.profile_path), "deploy", "--yes", "--limit", name)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        running = {c.name for c in sim.containers.snapshot() if c.state == "running"}
        assert running == {"mlnode-308", "inference"}
        return host.commands_log.read_text().splitlines()[before:]

    # a bare host: no ufw, no compose at all; the dependencies step installs both
    (home / "bin" / "ufw").unlink()
    (home / "bin" / "docker-compose").unlink()
    (home / ".sim" / "no-compose-plugin").touch()
    lose_containers()
    ran = "\n".join(deploy())
    assert "apt-get install -y -q ufw docker-compose-v2" in ran
    assert json.loads(apt.read_text()) == ["ufw", "docker-compose-v2"]
    assert (home / "bin" / "ufw").exists() and not (home / ".sim" / "no-compose-plugin").exists()
    rules = {
        (r["port"], r["from"])
        for r in json.loads((home / ".sim" / "ufw.json").read_text())["rules"]
    }
    assert ("22", "Anywhere") in rules

    # no plugin but the standalone docker-compose: nothing to install, docker-compose is used
    tools.install(home, "docker-compose")
    (home / ".sim" / "no-compose-plugin").touch()
    lose_containers()
    ran = deploy()
    assert json.loads(apt.read_text()) == ["ufw", "docker-compose-v2"]  # nothing installed
    ups = [c for c in ran if " up -d" in c]
    assert ups and all("docker-compose -f" in c for c in ups), ups
    assert not any("docker compose " in c for c in ran if "version" not in c), ran
    (home / ".sim" / "no-compose-plugin").unlink()


def test_the_keyring_secret_appears_nowhere_but_the_nodes_config_env(deploy_fleet):
    fleet, hosts, env, root = deploy_fleet
    plan = fleetdeck(env, "plan", str(fleet.profile_path), "deploy", "--limit", "c1-net")
    assert plan.returncode == 0
    as_json = fleetdeck(env, "plan", str(fleet.profile_path), "deploy", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)
    # positive controls: the secret was used, and masked where a diff showed it
    assert any("KEYRING_PASSWORD=***" in out for out in OUTPUTS)
    for name in ("c1-net", "c2-net"):
        config = hosts[name].host.sandbox / "gonka" / "deploy" / "join" / "config.env"
        assert sourced(config)["KEYRING_PASSWORD"] == SECRET
    assert OUTPUTS and not [leaked(o) for o in OUTPUTS if leaked(o)]
    state_files = [p for p in (root / "state").rglob("*") if p.is_file()]
    assert journal_db(root) in state_files
    for path in state_files:  # the journal, its WAL, anything else fleetdeck keeps
        content = path.read_bytes().decode("latin-1")
        assert not leaked(content), path
    with contextlib.closing(sqlite3.connect(journal_db(root))) as db:  # no reader left open
        rows = (
            db.execute("SELECT text FROM lines").fetchall()
            + db.execute("SELECT summary || error FROM steps").fetchall()
        )
    assert rows and not [r for r in rows if leaked(r[0])]
    for h in hosts.values():  # every command line run on every host (argv), and sshd's log
        commands = h.host.commands_log.read_text()
        assert "config.env" in commands or "ufw" in commands
        assert not leaked(commands) and not leaked(h.host.log.read_text())


def test_a_bring_up_whose_service_does_not_answer_is_not_recorded_unchanged(deploy_fleet):
    """Running containers whose health URL does not answer (a wait that timed out) are not
    'done': plan says so, and run waits for the URL instead of recording 'unchanged'."""
    fleet, hosts, env, root = deploy_fleet
    node = fleet.nodes["c1-ml2"]
    _, listener = node.listeners["mlnode"]
    listener.stop()  # the ML node's 8080 stops answering; its containers keep running
    try:
        plan = fleetdeck(env, "plan", str(fleet.profile_path), "deploy", "--limit", "c1-ml2")
        assert (
            "the ML node does not answer at http://127.0.0.1:8080/health although its "
            "containers run" in plan.stdout
        ), plan.stdout
        # it comes back while the run waits for it (once the step is running, not after a
        # guess of how long the run takes to get there)
        back = (root, "c1-ml2", "ml-nodes", node.reconcile)
        threading.Thread(target=when_running, args=back, daemon=True).start()
        run = fleetdeck(env, "run", str(fleet.profile_path), "deploy", "--yes", "--limit", "c1-ml2")
        assert run.returncode == 0, run.stdout[-3000:]
        assert "the ML node answers at http://127.0.0.1:8080/health" in run.stdout
        rows = step_rows(root, run_id_of(run.stdout))
        assert rows[("c1-ml2", "ml-nodes")][0] == "done"
    finally:
        node.reconcile()


def test_a_changed_model_recreates_the_containers_that_read_it(deploy_fleet):
    """A deploy converges on change: new model args rewrite node-config.json, and the API
    that reads it at start is recreated (Ansible's handler), then the next plan is empty."""
    fleet, hosts, env, root = deploy_fleet
    converged = fleetdeck(env, "run", str(fleet.profile_path), "deploy", "--yes")
    assert converged.returncode == 0, converged.stdout[-3000:] + converged.stderr[-2000:]
    model = "Qwen/Qwen3-32B-FP8"
    profile = load(fleet.profile_path)
    before = list(profile.model.models[model].args)
    profile.set_value(("models", model, "args"), [*before, "--max-model-len", "32768"])
    profile.save()
    served_by = {c.name for c in profile.model.clusters for n in c.nodes if n.model == model}
    networks = [
        n.name
        for c in profile.model.clusters
        if c.name in served_by
        for n in c.nodes
        if n.role == "network"
    ]
    assert networks
    try:
        plan = fleetdeck(env, "plan", str(fleet.profile_path), "deploy", "--json")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        items = {(i["node"], i["step"]): i for i in json.loads(plan.stdout)["items"]}
        for net in networks:
            config = items[(net, "configuration")]
            assert config["status"] == "change" and "+" in config["diff"]
            assert "--max-model-len" in config["diff"], config["diff"]
            recreate = items[(net, "recreate")]
            assert recreate["status"] == "change", recreate
            assert recreate["summary"].startswith("recreate api "), recreate["summary"]
            assert "node-config.json changes" in recreate["summary"]
        ml = [k for k, v in items.items() if k[1] == "recreate" and k[0] not in networks]
        assert all(items[k]["status"] == "unchanged" for k in ml), ml  # nothing they read

        # during PoC the recreate waits, saying when the window opens (issue 31) ...
        for net in networks:
            fleet.inject(net, "poc-running")
        only = ("--limit", ",".join(networks))  # what the change touches: the API's nodes
        try:
            held = fleetdeck(env, "run", str(fleet.profile_path), "deploy", "--yes", *only)
            assert held.returncode == 4, held.stdout[-3000:] + held.stderr[-2000:]
            said = held.stdout + held.stderr
            assert "waits: PoC runs (PoCGenerate) on cluster" in said, said[-3000:]
            window = r"the window before the next PoC opens at block \d+ \(\d+ blocks from now\)"
            assert re.search(window, said), said[-3000:]
            held_rows = step_rows(root, run_id_of(held.stdout))
            assert all(held_rows[(net, "recreate")][0] == "failed" for net in networks)
            # ... and goes on with --force REASON, which the journal keeps with who forced it
            proc = fleetdeck(
                env,
                "run",
                str(fleet.profile_path),
                "deploy",
                "--yes",
                *only,
                "--force",
                "hotfix #12",
            )
        finally:
            for net in networks:
                fleet.clear(net, "poc-running")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        run_id = run_id_of(proc.stdout)
        rows = step_rows(root, run_id)
        with contextlib.closing(sqlite3.connect(journal_db(root))) as db:
            forced = [
                line
                for (line,) in db.execute(
                    "SELECT text FROM lines WHERE run_id = ? AND step = 'recreate'", (run_id,)
                )
                if "forced during PoC by " in line
            ]
        assert len(forced) == len(networks) and all("hotfix #12" in f for f in forced), forced
        for net in networks:
            assert rows[(net, "recreate")][0] == "done", rows[(net, "recreate")]
            # inside the node: the file holds the new args, and the API was created after it
            join = hosts[net].host.sandbox / "gonka" / "deploy" / "join"
            entries = json.loads((join / "node-config.json").read_text())
            args = [e["models"][model]["args"] for e in entries if model in e["models"]]
            assert args and all("--max-model-len" in a for a in args), args
            api = next(c for c in fleet.nodes[net].containers.snapshot() if c.name == "api")
            assert api.state == "running"
            assert api.created > (join / "node-config.json").stat().st_mtime
        again = fleetdeck(env, "plan", str(fleet.profile_path), "deploy", "--json")
        counts = json.loads(again.stdout)["counts"]
        assert counts.get("change", 0) == 0 and counts.get("error", 0) == 0, again.stdout[-3000:]
    finally:
        profile.set_value(("models", model, "args"), before)
        profile.save()


def test_a_fleet_moves_between_releases_and_its_containers_follow(deploy_fleet):
    """A host still on an older release is read and moved as a deploy: ref back to
    v0.2.9-sim, then up to v0.2.14-sim; each time the repository, images and running
    containers follow (recreated from the release's compose), and the ports stay private."""
    fleet, hosts, env, root = deploy_fleet
    profile = load(fleet.profile_path)
    current = profile.model.stack.ref
    nodes = [n.name for c in profile.model.clusters if c.name == "c1" for n in c.nodes]
    try:
        for ref, release in (("v0.2.9-sim", "0.2.9-post2"), (current, "0.2.14")):
            profile.set_value(("stack", "ref"), ref)
            profile.save()
            plan = fleetdeck(env, "plan", str(fleet.profile_path), "deploy", "--limit", "c1")
            assert plan.returncode == 0, plan.stdout + plan.stderr
            assert "recreate" in plan.stdout and ref in plan.stdout, plan.stdout[-3000:]
            proc = fleetdeck(
                env, "run", str(fleet.profile_path), "deploy", "--yes", "--limit", "c1"
            )
            assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-2000:]
            for name in nodes:
                sim = fleet.nodes[name]
                running = {c.name: c for c in sim.containers.snapshot() if c.state == "running"}
                # versiond is 0.2.12's: removed on the way down, started on the way up
                want = set(sim.deployed_containers())
                if release == "0.2.9-post2":
                    want.discard("versiond")
                assert set(running) == want, (name, running)
                if "api" in running:
                    assert running["api"].image.endswith(f"/api:{release}"), proc.stdout[-4000:]
                    assert not GONKA.exposed(running["api"].bindings())
                head = subprocess.run(
                    ["git", "-C", str(hosts[name].host.sandbox / "gonka"), "describe", "--tags"],
                    capture_output=True,
                    text=True,
                ).stdout.strip()
                assert head == ref, (name, head)
    finally:
        profile.set_value(("stack", "ref"), current)
        profile.save()
