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
import time
import tomllib
from pathlib import Path

from console.sim import tools
from tests.harness.deployfleet import embedded_deploy_fleet, fleetdeck

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
        register = run("run", str(profile), "register", "--yes")
        assert "the chain lists participant" in register.stdout

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
            time.sleep(3)
        assert [c["status"] for c in epochs] == ["ok", "ok"], epochs
        assert all("with weight" in c["message"] for c in epochs)

        # a second plan changes nothing
        for action in ("keys", "register"):
            again = run("plan", str(profile), action)
            assert "nothing to change: every step is already done" in again.stdout, again.stdout
            assert "0 steps will change" in again.stdout

    # the mnemonics and the cold keyring's password appear nowhere but where the operator
    # asked (the warm keyring's password lives in the node's config.env, 0600, by Gonka's
    # design: it is searched for everywhere else)
    planted = [COLD_PASSWORD, *words]
    for text in said:
        assert not any(p in text for p in [*planted, WARM_PASSWORD])
    assert not any(p in commands.read_text() for p in [*planted, WARM_PASSWORD])
    for path in files_under(short_tmp / "state"):  # the journal
        assert not any(p.encode() in path.read_bytes() for p in [*planted, WARM_PASSWORD]), path
    for path in files_under(short_tmp / "data", short_tmp / "sim", short_tmp / "fleet.toml"):
        leaked = [p for p in planted if p.encode() in path.read_bytes()]
        assert not leaked, f"{path} holds a secret"
