"""Keys and registration of a bare two-cluster Gonka fleet, run as an operator runs them:
`run keys`, `run deploy`, `run register` on the embedded simulator, then `doctor`.

The operator's `inferenced` is the simulator's CLI (on this machine it follows --node, as
the real one does); the secrets are distinctive, and afterwards every output, the journal,
the profile, every file under the state and data dirs and the nodes' sandboxes, and every
command line the nodes were given are searched for them.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import paramiko

from console.sim import tools
from tests.harness.deployfleet import REPO, embedded_deploy_fleet, fleetdeck
from tests.harness.simclient import run as ssh_run

COLD_PASSWORD = "cold-Pw-4f9e1c77-keyring"  # noqa: S105 - a test's, planted to be searched for
WARM_PASSWORD = "warm-Pw-0b3d5a12-keyring"  # noqa: S105


def bare_two_clusters(cli: Path):
    """The deploy tests' profile without an account key (keys makes them), with the local
    CLI and the cold keyring's password as a secret."""

    def edit(text: str) -> str:
        text = re.sub(r"(?m)^account_pubkey = .*\n", "", text)
        text = text.replace("[stack]\n", f'[stack]\ncli = "{cli}"\n', 1)
        return text.replace(
            "[secrets]\n",
            '[secrets]\naccount_keyring_password = "keyring:fleetdeck-test/cold"\n',
            1,
        )

    return edit


def on_node(sim: Path, node: str, command: str, stdin: str) -> tuple[int, str, str]:
    """A command on a simulated node, by hand, as an operator's ssh would run it."""
    doc = tomllib.loads((sim / "profile.toml").read_text())
    n = next(n for c in doc["clusters"] for n in c["nodes"] if n["name"] == node)
    client = paramiko.SSHClient()
    client.load_host_keys(str(sim / "known_hosts"))
    client.connect(
        n["host"],
        port=n["port"],
        username=doc["ssh"]["user"],
        key_filename=str(sim / "id_ecdsa"),
        look_for_keys=False,
        allow_agent=False,
    )
    try:
        return ssh_run(client, command, stdin)
    finally:
        client.close()


def files_under(*roots: Path):
    for root in roots:
        if root.is_file():
            yield root
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                yield path


def test_keys_deploy_register_then_doctor(short_tmp: Path):
    (short_tmp / "bin").mkdir()
    tools.install(short_tmp, "inferenced")  # this machine's CLI: the simulator's
    cli = short_tmp / "bin" / "inferenced"
    commands = short_tmp / "commands.log"
    with embedded_deploy_fleet(
        short_tmp,
        dict(os.environ, FLEETDECK_COMMAND_LOG=str(commands)),
        secret=WARM_PASSWORD,
        edit=bare_two_clusters(cli),
        secrets={"fleetdeck-test/cold": COLD_PASSWORD},
        sim_args=("--block-time", "0.2", "--epoch-blocks", "60"),  # a PoC every 12 s
    ) as fleet:
        env = dict(fleet.env, XDG_DATA_HOME=str(short_tmp / "data"))
        profile = short_tmp / "sim" / "profile.toml"
        mnemonics = short_tmp / "mnemonics.txt"
        said = []

        def run(*args: str, ok: bool = True):
            done = fleetdeck(env, *args)
            said.append(done.stdout + done.stderr)
            if ok:
                assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
            return done

        keys = run("run", str(profile), "keys", "--yes", "--mnemonic-file", str(mnemonics))
        assert "warm-key" in keys.stdout and "api container is not running" in keys.stdout
        settings = {
            c["name"]: c["settings"] for c in tomllib.loads(profile.read_text())["clusters"]
        }
        cold = {name: s["account_address"] for name, s in settings.items()}
        assert len(set(cold.values())) == 2 and all(a.startswith("gonka1") for a in cold.values())
        assert stat.S_IMODE(mnemonics.stat().st_mode) == 0o600
        words = [line for line in mnemonics.read_text().splitlines() if not line.startswith("#")]
        assert len(words) == 2 and all(len(w.split()) == 24 for w in words)
        for name in cold:
            home = short_tmp / "data" / "fleetdeck" / "keyrings" / "deploytest" / name
            assert stat.S_IMODE(home.stat().st_mode) == 0o700

        run("run", str(profile), "deploy", "--yes")
        # c2's warm key was made by hand already: it is kept, never a second one
        rc, made, err = on_node(
            short_tmp / "sim",
            "c2-net",
            "docker exec -i api inferenced keys add c2-ml-ops-key --keyring-backend file "
            "--output json",
            f"{WARM_PASSWORD}\n{WARM_PASSWORD}\n",
        )
        assert rc == 0, err
        c2_warm = json.loads(made)["address"]
        # the chain container crash-loops when registration starts: named, retried, and
        # registration goes on once it is back
        sim = str(short_tmp / "sim")
        # c2's account got coins before it registered (sequence 0): the seed's path would
        # panic, so it is submitted signed by the cold key here
        run("sim", "fault", sim, "c2-net", "account-funded")
        run("sim", "fault", sim, "c1-net", "chain-crash-loop")
        registering = subprocess.Popen(
            [sys.executable, "-m", "console.app.cli", "run", str(profile), "register", "--yes"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        seen = []  # the run's lines until it names the crash loop; then the node recovers
        for line in registering.stdout:
            seen.append(line)
            if "the chain container `node` is restarting" in line:
                break
        run("sim", "clear", sim, "c1-net")
        rest, _ = registering.communicate(timeout=300)
        out = "".join(seen) + rest
        said.append(out)
        assert registering.returncode == 0, out[-4000:]
        assert "the chain container `node` is restarting" in out
        assert "see `docker logs node`" in out
        assert "the chain lists participant" in out
        assert f"record the warm key's address {c2_warm}" in out
        assert "is funded and has never signed (sequence 0)" in out
        assert "submit participant" in out and "signed here by the cold key" in out
        settings = {
            c["name"]: c["settings"] for c in tomllib.loads(profile.read_text())["clusters"]
        }
        assert settings["c2"]["ml_ops_address"] == c2_warm

        # the chain says so: both accounts are participants, granted, ML nodes added
        doctor = run("doctor", str(profile), "--json")
        report = json.loads(doctor.stdout)
        assert report["schema"] == 1 and report["ok"] is True
        by_cluster = {c["cluster"]: c for c in report["clusters"]}
        for name, address in cold.items():
            checks = {c["id"]: c for c in by_cluster[name]["checks"]}
            assert checks["participant"]["status"] == "ok", checks["participant"]
            assert address in checks["participant"]["message"]
            for cid in ("permissions_granted", "feegrant_allowance", "warm_key_in_keyring"):
                assert checks[cid]["status"] == "ok", checks[cid]
            assert checks["ml_nodes"]["status"] == "ok", checks["ml_nodes"]

        # not in the epoch until the next PoC: a wait, not a failure; then in, with weight
        assert {c["status"] for cl in report["clusters"] for c in cl["checks"]} <= {"ok", "warn"}
        deadline = time.monotonic() + 90
        while True:
            report = json.loads(run("doctor", str(profile), "--json").stdout)
            epochs = [c for cl in report["clusters"] for c in cl["checks"] if c["id"] == "epoch"]
            if all(c["status"] == "ok" for c in epochs) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert [c["status"] for c in epochs] == ["ok", "ok"], epochs
        assert all("with weight" in c["message"] for c in epochs)

        # grants that expire soon are a warning 30 days ahead; expired ones a failure
        # naming the fix
        run("sim", "fault", sim, "c1-net", "grants-expiring")
        soon = run("doctor", str(profile))
        assert "expires in 10 days" in soon.stdout
        run("sim", "clear", sim, "c1-net")
        run("sim", "fault", sim, "c1-net", "grants-expired")
        expired = run("doctor", str(profile), ok=False)
        assert expired.returncode == 2
        assert "✗ permissions_granted" in expired.stdout
        assert "fix: fleetdeck run PROFILE register (its grant step)" in expired.stdout
        regrant = run("plan", str(profile), "register")
        assert "grant ML-ops permissions" in regrant.stdout
        run("sim", "clear", sim, "c1-net")

        # a second plan changes nothing
        for action in ("keys", "register"):
            again = run("plan", str(profile), action)
            assert "nothing to change: every step is already done" in again.stdout, again.stdout
            assert "0 steps will change" in again.stdout

        # a model the chain has not approved is named, with the approved ones
        edited = re.sub(
            r'(name = "c1-ml2"\n(?:[^\[]*?\n)?model = )"[^"]*"',
            r'\1"Acme/Unapproved-7B"',
            profile.read_text(),
        )
        edited += '\n[models."Acme/Unapproved-7B"]\nvram_gb = 16\n'
        assert "Acme/Unapproved-7B" in edited.split('name = "c1-ml2"')[1].split("[[")[0]
        odd = short_tmp / "unapproved.toml"
        odd.write_text(edited)
        refused = run("plan", str(odd), "register", ok=False)
        assert refused.returncode == 4
        assert "c1-ml2 serves Acme/Unapproved-7B, not a governance model; approved:" in (
            refused.stdout
        )
        assert "Qwen/Qwen3-32B-FP8" in refused.stdout

        # a cold key kept on another machine: register says so, the signing kit prints
        # what to run there, it is run there, and the chain has it
        run("sim", "fault", sim, "c1-net", "grants-expired")
        elsewhere = short_tmp / "elsewhere.toml"
        elsewhere.write_text(
            profile.read_text().replace(
                f'cli = "{cli}"', f'cli = "{cli}"\nkeyring_home = "{short_tmp / "none"}"', 1
            )
        )
        stuck = run("run", str(elsewhere), "register", "--yes", "--limit", "c1", ok=False)
        assert stuck.returncode == 4
        assert "`fleetdeck signing-kit PROFILE` prints the commands" in stuck.stdout
        rpc_at = json.loads((short_tmp / "sim/nodes/c1-net/.sim/node.json").read_text())
        kit_node = f"http://{rpc_at['private_address']}:26657"
        kit = run("signing-kit", str(elsewhere), "--cluster", "c1", "--node", kit_node)
        signings = [line for line in kit.stdout.splitlines() if line.startswith("inferenced ")]
        assert len(signings) == 1 and "grant-ml-ops-permissions" in signings[0], kit.stdout
        other = short_tmp / "data" / "fleetdeck" / "keyrings" / "deploytest" / "c1"

        def sign_there(command: str, before: str = "") -> None:
            """A kit's command, run on the machine that keeps the cold key (its keyring)."""
            there = subprocess.run(
                [
                    "sh",
                    "-c",
                    f"{before}{cli}{command.removeprefix('inferenced')} --keyring-dir {other}",
                ],
                input=COLD_PASSWORD + "\n",
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            assert "Transaction confirmed successfully!" in there.stdout, (
                there.stdout + there.stderr
            )

        sign_there(signings[0])
        checked = json.loads(run("doctor", str(profile), "--json").stdout)
        c1 = {c["id"]: c for c in checked["clusters"][0]["checks"]}
        assert c1["permissions_granted"]["status"] == "ok"
        assert c1["feegrant_allowance"]["status"] == "ok"
        assert c1["proposals"]["status"] == "ok"  # none open
        run("sim", "clear", sim, "c1-net")

        # a proposal in its voting period (issue 31): listed with the cluster's vote, the
        # doctor warns it ends within a day unvoted, the kit's command votes, and it shows
        run("sim", "fault", sim, "c1-net", "gov-proposal")
        listed = run("proposals", str(profile), "--json")
        (proposal,) = json.loads(listed.stdout)["proposals"]
        assert proposal["title"] == "v0.2.16 software upgrade"
        assert proposal["kinds"] == ["MsgSoftwareUpgrade"] and proposal["votes"]["c1"] is None
        assert "c1: not voted" in run("proposals", str(profile)).stdout
        warned = json.loads(run("doctor", str(profile), "--json").stdout)
        c1 = {c["id"]: c for c in warned["clusters"][0]["checks"]}
        assert c1["proposals"]["status"] == "warn", c1["proposals"]
        assert (
            f"proposal {proposal['id']} 'v0.2.16 software upgrade' ends in 20 h"
            in (c1["proposals"]["message"])
        )
        kit = run("signing-kit", str(elsewhere), "--cluster", "c1", "--node", kit_node)
        (vote,) = [line for line in kit.stdout.splitlines() if " gov vote " in line]
        assert vote.startswith(f'inferenced tx gov vote {proposal["id"]} "$VOTE" --from ')
        sign_there(vote, before="VOTE=yes; ")
        voted = json.loads(run("proposals", str(profile), "--json").stdout)["proposals"][0]
        assert voted["votes"]["c1"] == "yes", voted
        run("sim", "clear", sim, "c1-net")

        # the same key imported from its mnemonic on another operator machine (a fresh data
        # dir): it matches the profile; a wrong mnemonic is refused and nothing is kept
        c1_words = mnemonics.read_text().split("# cluster c1, account ")[1].splitlines()[1]
        again_env = dict(env, XDG_DATA_HOME=str(short_tmp / "data2"))
        keys_cmd = [sys.executable, "-m", "console.app.cli", "run", str(profile), "keys", "--yes"]
        wrong = subprocess.run(
            [*keys_cmd, "--recover", "--limit", "c1"],
            input="c1: " + " ".join(["abandon"] * 23 + ["art"]) + "\n",
            capture_output=True,
            text=True,
            env=again_env,
            cwd=REPO,
            timeout=120,
        )
        said.append(wrong.stdout + wrong.stderr)
        assert wrong.returncode == 4 and "not the profile's account_pubkey" in wrong.stdout
        right = subprocess.run(
            [*keys_cmd, "--recover", "--limit", "c1"],
            input=f"c1: {c1_words}\n",
            capture_output=True,
            text=True,
            env=again_env,
            cwd=REPO,
            timeout=120,
        )
        said.append(right.stdout + right.stderr)
        assert right.returncode == 0, right.stdout[-2000:]
        assert f"imported the cold account key gonka-account-key: {cold['c1']}" in right.stdout
        assert c1_words not in right.stdout + right.stderr

    # the mnemonics and the cold keyring's password appear nowhere but where the operator
    # asked (the warm keyring's password lives in the node's config.env, 0600, by Gonka's
    # design: it is searched for everywhere else)
    planted = [COLD_PASSWORD, *words]
    for text in said:
        assert not any(p in text for p in [*planted, WARM_PASSWORD])
    assert not any(p in commands.read_text() for p in [*planted, WARM_PASSWORD])
    for path in files_under(short_tmp / "state"):  # the journal
        assert not any(p.encode() in path.read_bytes() for p in [*planted, WARM_PASSWORD]), path
    for path in files_under(
        short_tmp / "data", short_tmp / "data2", short_tmp / "sim", short_tmp / "fleet.toml"
    ):
        leaked = [p for p in planted if p.encode() in path.read_bytes()]
        assert not leaked, f"{path} holds a secret"
