"""Shared fixtures: the OpenSSH test hosts and the private dockerd.

They start real servers and stop them by pid. Where a server cannot run (not root, not
installed), the tests that need it skip saying why, except under CI=true, where they fail:
CI must never pass by skipping the real-server tests.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.dockerd import Dockerd, dockerd_available
from tests.harness.sshd import SshHost, ensure_privsep_dir, keygen, make_host, sshd_available

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO.parent / "shared" / "reference"


# the longest test files first: the workers take files as they come free (--dist loadfile,
# with --no-loadscope-reorder: xdist otherwise orders files by their number of tests), and
# a long file taken last leaves the others idle for its whole length at the end of the run.
# FLEETDECK_TEST_CPU=FILE records each test's start and end to remeasure this order.
LONGEST_FIRST = (  # measured 2026-12-06 on a fresh clone, four workers (tests/run.sh)
    "integration/test_deploy_openssh.py",
    "integration/test_deploy_golem.py",
    "integration/test_watch_paging.py",
    "integration/test_monitor.py",
    "integration/test_setup_wizard.py",
    "integration/test_demo_teardown.py",
    "integration/test_deploy_ollama.py",
    "integration/test_gonka_registration.py",
    "integration/test_setup_rehearsal.py",
    "integration/test_provision_ec2.py",
    "unit/test_mnemonic_file.py",
    "unit/test_cli_run.py",
    "integration/test_run_interrupt.py",
    "integration/test_sim_stays_local.py",
    "integration/test_gonka_releases.py",
    "tui/test_node_and_triage.py",
    "integration/test_sim_cli.py",
    "integration/test_preflight.py",
    "tui/test_random_keys.py",
    "integration/test_accelerators.py",
    "integration/test_prometheus_source.py",
    "integration/test_runbook_actions.py",
    "tui/test_fleet_screen.py",
    "integration/test_sim_faults.py",
    "unit/test_profile_load.py",
    "unit/test_outside_data_fuzz.py",
    "integration/test_recording.py",
    "integration/test_deploy_vllm.py",
    "integration/test_console_lag.py",
    "integration/test_demo_e2e.py",
    "integration/test_kubernetes_pools.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def place(item: pytest.Item) -> int:
        path = Path(str(item.fspath))
        return rank.get(f"{path.parent.name}/{path.name}", len(LONGEST_FIRST))

    items.sort(key=place)  # stable: each file's tests, and the other files, keep their order


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """With FLEETDECK_TEST_CPU=FILE, each test's CPU seconds (this process and the children
    it waited for; then this process alone), its start and end (epoch seconds) and its
    worker are appended to FILE: where the suite's time goes, and which files make the
    run's tail."""
    path = os.environ.get("FLEETDECK_TEST_CPU")
    if not path:
        return (yield)
    before, start = _cpu(), time.time()
    try:
        return (yield)
    finally:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        (total, alone), (total0, alone0) = _cpu(), before
        with open(path, "a") as f:
            f.write(
                f"{total - total0:.2f} {start:.1f} {time.time():.1f} {worker} "
                f"{alone - alone0:.2f} {item.nodeid}\n"
            )


def _cpu() -> tuple[float, float]:
    """(this process and its waited-for children, this process alone): CPU seconds."""
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    alone = me.ru_utime + me.ru_stime
    return alone + children.ru_utime + children.ru_stime, alone


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {reason}; the test command installs it, so this is a bug")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def harness_dir() -> Iterator[Path]:
    # short path: unix socket paths are limited to 108 bytes
    d = Path(tempfile.mkdtemp(prefix="fd-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def client_key(harness_dir: Path) -> Path:
    """The private key the tests log in with (its .pub is authorized on every host)."""
    if shutil.which("ssh-keygen") is None:
        unavailable("ssh-keygen is not installed")
    return keygen(harness_dir / "id_ed25519")


class SshHosts:
    """Creates OpenSSH test hosts on 127.0.2.x; stops them all at the end."""

    def __init__(self, root: Path, client_key: Path) -> None:
        self.root = root
        self.client_key = client_key
        self.hosts: list[SshHost] = []
        self.known_hosts = root / "known_hosts"

    def start(
        self, name: str, env: dict[str, str] | None = None, max_sessions: int = 100
    ) -> SshHost:
        index = len(self.hosts) + 1
        address = f"127.0.2.{index}"
        pub = self.client_key.with_suffix(".pub")
        host = make_host(self.root, name, address, pub, env, max_sessions=max_sessions)
        host.start()
        self.hosts.append(host)
        with open(self.known_hosts, "a") as f:
            f.write(host.known_hosts_line + "\n")
        return host

    def stop_all(self) -> None:
        for host in self.hosts:
            host.stop()


@pytest.fixture(scope="session")
def ssh_hosts(harness_dir: Path, client_key: Path) -> Iterator[SshHosts]:
    reason = sshd_available()
    if reason:
        unavailable(reason)
    ensure_privsep_dir()
    hosts = SshHosts(harness_dir / "hosts", client_key)
    try:
        yield hosts
    finally:
        hosts.stop_all()


@pytest.fixture(scope="session")
def ssh_host(ssh_hosts: SshHosts) -> SshHost:
    """One running OpenSSH test host."""
    return ssh_hosts.start("host1")


@pytest.fixture(scope="session")
def dockerd(harness_dir: Path) -> Iterator[Dockerd]:
    reason = dockerd_available()
    if reason:
        unavailable(reason)
    daemon = Dockerd(harness_dir / "docker")
    try:
        daemon.start()
        daemon.import_test_image()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def reference() -> Path:
    """shared/reference, read in place; tests that need it skip where it is absent."""
    if not REFERENCE.is_dir():
        pytest.skip("shared/reference is not beside this checkout (as on a user's machine)")
    return REFERENCE


@pytest.fixture(scope="session")
def sim_fleet(harness_dir: Path):
    """The small simulated fleet (tests/data/sim-small.toml), running in this process."""
    from tests.harness.simclient import small_sim_fleet

    with small_sim_fleet(harness_dir / "sim") as fleet:
        yield fleet


@pytest.fixture
def node_access(sim_fleet):
    from tests.harness.simclient import NodeAccess

    def access(name: str) -> NodeAccess:
        node = sim_fleet.nodes[name]
        return NodeAccess(
            node.public_address,
            sim_fleet.ssh.ports[name],
            sim_fleet.key_path,
            sim_fleet.known_hosts_path,
        )

    return access


@pytest.fixture(autouse=True)
def private_config(tmp_path_factory, monkeypatch):
    """No test reads the machine's ~/.config/fleetdeck (keys.toml) or writes its state
    (the journal, with its acknowledgements, would carry from one test to the next)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def short_tmp():
    """A short temporary directory, for a simulated fleet whose sockets live under it
    (AF_UNIX paths are limited to 107 bytes; pytest's own tmp_path is too long for some)."""
    path = Path(tempfile.mkdtemp(prefix="fdt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
