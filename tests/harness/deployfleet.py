"""Simulated nodes behind real OpenSSH hosts (each sshd in its own network namespace,
the node's sandbox its home), and on top of that the fleet the deploy tests and benchmark
deploy to: bare nodes and the simulator's stand-in for the gonka repository."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from console.core.profile import Profile, load
from console.sim.daemon import claim_block
from console.sim.deployrepo import make_gonka_repo
from console.sim.fleet import ExternalHost, SimFleet
from tests.harness.cli import run as fleetdeck
from tests.harness.netns import NetnsHost, start_netns_host
from tests.harness.sshd import ensure_privsep_dir

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "tests" / "data" / "deploy-two-clusters.toml"
KEYRING_ENTRY = "fleetdeck-test/gonka-keyring-password"


@dataclass
class DeployFleet:
    fleet: SimFleet
    hosts: dict[str, NetnsHost]
    env: dict[str, str]  # for running fleetdeck: test keyring, private state dir
    root: Path

    @property
    def journal(self) -> Path:
        return self.root / "state" / "fleetdeck" / "journal.sqlite"


@contextlib.contextmanager
def sim_behind_openssh(
    profile: Profile, root: Path, client_key: Path, first_index: int, deployed: bool
) -> Iterator[tuple[SimFleet, dict[str, NetnsHost]]]:
    """Every node of `profile` a real sshd in a network namespace of its own (10.231.N.2,
    N from `first_index`), a simulated node behind each, sharing its home as sandbox."""
    ensure_privsep_dir()
    hosts: dict[str, NetnsHost] = {}
    block, lock = claim_block()
    fleet = None
    try:
        for i, (_, node) in enumerate(profile.model.all_nodes(), start=first_index):
            home = root / "hosts" / node.name / "home"
            env = {
                "LD_LIBRARY_PATH": f"{home}/lib",
                "DOCKER_HOST": f"unix://{home}/.sim/docker.sock",
            }
            hosts[node.name] = start_netns_host(
                root / "hosts", node.name, i, client_key.with_suffix(".pub"), env
            )
        external = {
            name: ExternalHost(h.host.sandbox, h.netns, h.host.address, 22, h.host.known_hosts_line)
            for name, h in hosts.items()
        }
        fleet = SimFleet(
            profile,
            root / "sim",
            block=block,
            block_time=0.2,
            tick=0.2,
            deployed=deployed,
            external=external,
        )
        fleet.start()
        key = fleet.client_key
        for h in hosts.values():  # the simulated fleet's key logs in, like the harness key
            assert h.host.config is not None
            with open(h.host.config.parent / "authorized_keys", "a") as f:
                f.write(f"{key.get_name()} {key.get_base64()}\n")
        yield fleet, hosts
    finally:
        if fleet is not None:
            fleet.stop()
        for h in hosts.values():
            h.stop()
        lock.close()


@contextlib.contextmanager
def deploy_fleet(
    root: Path, client_key: Path, secret: str, first_index: int = 21
) -> Iterator[DeployFleet]:
    url, tag = make_gonka_repo(root / "gonka-repo")
    profile = load(PROFILE)
    profile.set_value(("stack", "repo"), url)
    profile.set_value(("stack", "ref"), tag)
    with sim_behind_openssh(profile, root, client_key, first_index, deployed=False) as (
        fleet,
        hosts,
    ):
        keyring_file = root / "keyring.json"
        keyring_file.write_text(json.dumps({KEYRING_ENTRY: secret}))
        env = dict(
            os.environ,
            PYTHON_KEYRING_BACKEND="tests.harness.keyring_file.FileKeyring",
            FLEETDECK_TEST_KEYRING=str(keyring_file),
            XDG_STATE_HOME=str(root / "state"),
            PYTHONPATH=str(REPO),
        )
        yield DeployFleet(fleet, hosts, env, root)


@contextlib.contextmanager
def embedded_deploy_fleet(
    root: Path,
    env: dict[str, str] | None = None,
    path_first: Path | None = None,
    secret: str = "embedded fleet's password",  # noqa: S107 - a test fleet's
    edit: Callable[[str], str] | None = None,
    secrets: dict[str, str] | None = None,
    sim_args: tuple[str, ...] = (),
) -> Iterator[DeployFleet]:
    """The deploy tests' bare fleet on the embedded simulator (`fleetdeck sim up --fresh`,
    no sshd or netns needed); `DeployFleet.fleet` is None, the profile is
    root/sim/profile.toml. `root` must be short: the fleet's sockets live under it.
    `path_first` goes before the project on every fleetdeck process's Python path."""
    url, tag = make_gonka_repo(root / "gonka-repo")
    profile = load(PROFILE)
    profile.set_value(("stack", "repo"), url)
    profile.set_value(("stack", "ref"), tag)
    text = profile.text()
    (root / "fleet.toml").write_text(edit(text) if edit else text)
    keyring = root / "keyring.json"
    keyring.write_text(json.dumps({KEYRING_ENTRY: secret} | (secrets or {})))
    env = dict(
        env or os.environ,
        PYTHONPATH=str(REPO),
        PYTHON_KEYRING_BACKEND="tests.harness.keyring_file.FileKeyring",
        FLEETDECK_TEST_KEYRING=str(keyring),
        XDG_STATE_HOME=str(root / "state"),
    )
    up = fleetdeck(
        env, "sim", "up", str(root / "fleet.toml"), "--dir", str(root / "sim"), "--fresh", *sim_args
    )
    assert up.returncode == 0, up.stderr
    try:
        yield DeployFleet(None, {}, env, root)  # type: ignore[arg-type]
    finally:
        fleetdeck(env, "sim", "down", str(root / "sim"))
