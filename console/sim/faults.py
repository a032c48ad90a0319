"""The faults that can be injected into a running simulated fleet, and cleared again.

Each one changes what a client observes the way the real failure does: a refused or hung
SSH connection, a hot GPU with thermal slowdown, a GPU missing from NVML, a restarting
container, a chain whose height stops, an inference endpoint answering 503.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.sim import gpus as simgpus
from console.sim.chain import YEAR_S, ChainFaults, account_address

if TYPE_CHECKING:
    from console.sim.fleet import SimFleet
    from console.sim.node import SimNode


class FaultError(Exception):
    pass


@dataclass(frozen=True)
class Fault:
    kind: str
    description: str
    apply: Callable[[SimFleet, SimNode], None]
    clear: Callable[[SimFleet, SimNode], None]
    needs_chain: bool = False


def _flag(name: str, value: object = True):
    def apply(fleet: SimFleet, node: SimNode) -> None:
        node.faults[name] = value

    def clear(fleet: SimFleet, node: SimNode) -> None:
        node.faults.pop(name, None)

    return apply, clear


def _chain(node: SimNode):
    chain = node.fleet.chain_of(node)
    if chain is None:
        raise FaultError(f"node {node.name} has no chain (not a Gonka cluster)")
    return chain


def _ports_public(fleet: SimFleet, node: SimNode) -> None:
    """As deployed with Gonka's compose files alone: 9100, 8080 and 5050 on every interface."""
    from console.sim.containers import PUBLISHED

    for name in ("api", "inference"):
        c = node.containers.get(name)
        if c is not None:
            c.ports = PUBLISHED.get(name, ())


def _admin_public(fleet: SimFleet, node: SimNode) -> None:
    """The admin API (9200) published on every interface: an edited compose file."""
    from console.sim.containers import EVERY

    c = node.containers.get("api")
    if c is not None:
        c.ports = ((9100, "127.0.0.1", 9100), (9200, EVERY, 9200))


def _ports_private(fleet: SimFleet, node: SimNode) -> None:
    bindings = fleet.bindings(node)
    for name in ("api", "inference"):
        c = node.containers.get(name)
        if c is not None:
            c.ports = bindings.get(name)


def _host_down(fleet: SimFleet, node: SimNode) -> None:
    node.faults["host_down"] = True
    fleet.ssh.down(node.name)
    node.reconcile()


def _host_up(fleet: SimFleet, node: SimNode) -> None:
    node.faults.pop("host_down", None)
    fleet.ssh.up(node.name)
    node.reconcile()


def _hung(fleet: SimFleet, node: SimNode) -> None:
    node.faults["host_hung"] = True
    for t in fleet.ssh.transports.pop(node.name, []):
        t.close()  # the sessions it had are gone; new ones hang at the handshake


def _unhung(fleet: SimFleet, node: SimNode) -> None:
    node.faults.pop("host_hung", None)
    fleet.ssh.up(node.name)


def _gpu(attr: str, value_of: Callable[[SimNode], object], xid: int | None = None):
    def apply(fleet: SimFleet, node: SimNode) -> None:
        if node.gpu_count == 0:
            raise FaultError(f"node {node.name} has no GPUs")
        setattr(node.gpu_faults, attr, value_of(node))
        if xid is not None:
            node.add_xid(0, xid)
        node.write_readings()

    def clear(fleet: SimFleet, node: SimNode) -> None:
        setattr(node.gpu_faults, attr, False if attr == "hot" else None)
        node.write_readings()

    return apply, clear


def _card(attr: str, value: object, vendor: str = "gaudi"):
    """A fault of one Gaudi card or AMD GPU (reference/accelerators.md §1.8, §2), on a node
    of that vendor; a kernel log line where `attr` is "kmsg" (it is not cleared: the log
    keeps it, and the console lets it age out)."""

    def apply(fleet: SimFleet, node: SimNode) -> None:
        if simgpus.vendor_of(node.gpu_type) != vendor or node.gpu_count == 0:
            raise FaultError(f"node {node.name} has no {vendor} devices")
        if attr == "kmsg":
            bus = node.gpu_snapshot().gpus[2 % node.gpu_count].pci_bus_id
            for line in str(value).splitlines():
                node.log_kernel(line.format(bus=bus))
            return
        setattr(node.gpu_faults, attr, value)
        node.write_readings()

    def clear(fleet: SimFleet, node: SimNode) -> None:
        if attr != "kmsg":
            setattr(node.gpu_faults, attr, None)
            node.write_readings()

    return apply, clear


AMD_FAULTS = {  # fault -> (GpuFaults field, its value, what it does)
    "amd-missing": ("missing", 7, "GPU 7 not brought up by the driver: 7 of 8 listed"),
    "amd-ecc": ("ecc_uncorrectable", 1, "uncorrectable ECC errors on GPU 1"),
    "amd-hot": ("hot", True, "every GPU's junction at 108 °C"),
    "amd-reset": (
        "kmsg",
        "amdgpu {bus}: amdgpu: GPU reset begin!",
        "the amdgpu driver resets GPU 2 (kernel log)",
    ),
    "amd-hw-error": (
        "kmsg",
        "amdgpu {bus}: amdgpu: uncorrectable hardware error(ERREVENT_ATHUB_INTERRUPT) detected!",
        "an uncorrectable hardware error on GPU 2 (kernel log)",
    ),
    "amd-mes-hang": (
        "kmsg",
        "amdgpu {bus}: amdgpu: MES failed to respond to msg=REMOVE_QUEUE\n"
        "amdgpu {bus}: amdgpu: MES might be in unrecoverable state, issue a GPU reset",
        "GPU 2's scheduler firmware (MES) stops answering (kernel log)",
    ),
    "amd-driver-gone": ("driver_gone", True, "the amdgpu driver is not loaded: amd-smi fails"),
}
GAUDI_FAULTS = {  # fault -> (GpuFaults field, its value, what it does)
    "gaudi-missing": ("missing", 7, "card 7 failed to come up: 7 of 8 attached"),
    "gaudi-disabled": ("status", (3, "disabled"), "the driver calls card 3 disabled"),
    "gaudi-needs-reset": ("status", (3, "needs reset"), "card 3 needs a hard reset"),
    "gaudi-links-down": ("ports_down", (2, (5, 7)), "NIC ports 5 and 7 of card 2 down"),
    "gaudi-hot": ("hot", True, "every card at 84 °C"),
    "gaudi-rows-pending": ("rows_pending", 1, "card 1 has memory rows pending replacement"),
    "gaudi-power-spike": ("power_spike", 4, "card 4 reads 1900 W on its cap"),
    "gaudi-garbage-temp": ("garbage_temp", 5, "card 5's sensor reads 505712272 °C"),
    "gaudi-driver-gone": (
        "driver_gone",
        True,
        "the habanalabs driver is gone after a kernel update: hl-smi finds no driver",
    ),
}


def _container_fault(name: str, container: str | None = None):
    """`container`: which one (default: the node's main container)."""

    def apply(fleet: SimFleet, node: SimNode) -> None:
        node.faults[name] = True
        node.tick(fleet.clock())

    def clear(fleet: SimFleet, node: SimNode) -> None:
        node.faults.pop(name, None)
        main = container or node.main_container()
        c = node.containers.items.get(main)
        if c is not None:
            with node.containers.lock:
                if c.state == "restarting":
                    c.state = "exited"
            node.containers.start(main)
            c.health = "healthy" if c.health else None
            c.failing_streak = 0
        node.reconcile()

    return apply, clear


MISS_FAULTS = {  # fault -> (share of requests missed this epoch, what it does)
    "inference-misses": (0.30, "the host misses 30 % of its inference requests this epoch"),
    "inference-misses-low": (0.05, "the host misses 5 % of its inference requests (tolerated)"),
}


def _miss_rate(rate: float):
    def apply(fleet: SimFleet, node: SimNode) -> None:
        _chain(node).faults.miss_rate = rate

    def clear(fleet: SimFleet, node: SimNode) -> None:
        _chain(node).faults.miss_rate = ChainFaults.miss_rate

    return apply, clear


OTHER_RELEASE_IMAGE = (  # an image of Intel Gaudi software 1.17, on a 1.24 driver's node
    "vault.habana.ai/gaudi-docker/1.17.0/ubuntu22.04/habanalabs/pytorch-installer-2.3.1:latest"
)


def _other_release():
    """The main container runs an image of another Gaudi software release than the driver."""
    kept: dict[str, str] = {}

    def apply(fleet: SimFleet, node: SimNode) -> None:
        if simgpus.vendor_of(node.gpu_type) != "gaudi":
            raise FaultError(f"node {node.name} has no gaudi devices")
        c = node.containers.items.get(node.main_container())
        if c is None:
            raise FaultError(f"node {node.name} runs no {node.main_container()}")
        with node.containers.lock:
            kept.setdefault(node.name, c.image)
            c.image = OTHER_RELEASE_IMAGE

    def clear(fleet: SimFleet, node: SimNode) -> None:
        c = node.containers.items.get(node.main_container())
        if c is not None and node.name in kept:
            with node.containers.lock:
                c.image = kept.pop(node.name)

    return apply, clear


def _cancel_upgrade(fleet: SimFleet, node: SimNode) -> None:
    """The plan gone and the chain going again; the halt's note removed (the operator put
    the binary in place and started the node)."""
    _chain(node).cancel_upgrade()
    cosmovisor = next(node.home.glob("**/.inference/cosmovisor"), None)
    if cosmovisor is not None:
        (cosmovisor.parent / "data" / "upgrade-info.json").unlink(missing_ok=True)


def _chain_fault(attr: str):
    def apply(fleet: SimFleet, node: SimNode) -> None:
        setattr(_chain(node).faults, attr, True)

    def clear(fleet: SimFleet, node: SimNode) -> None:
        setattr(_chain(node).faults, attr, False)

    return apply, clear


def _grants_aged(flag: str, seconds: float):
    def apply(fleet: SimFleet, node: SimNode) -> None:
        ours = _chain(node).ours()
        if ours is None:
            raise FaultError(f"{node.name}'s chain has no participant of ours yet")
        if node.faults.get(flag):
            return  # aged already
        _chain(node).age_grants(ours.address, seconds)
        node.faults[flag] = True

    def clear(fleet: SimFleet, node: SimNode) -> None:
        ours = _chain(node).ours()
        if node.faults.pop(flag, None) and ours is not None:
            _chain(node).age_grants(ours.address, -seconds)

    return apply, clear


def _account_funded(fleet: SimFleet, node: SimNode) -> None:
    pubkey = node.deploy_env().get("ACCOUNT_PUBKEY")
    if not pubkey:
        raise FaultError(f"{node.name} has no ACCOUNT_PUBKEY in its config.env yet (deploy)")
    _chain(node).fund(account_address(pubkey), 5_000_000_000)
    node.faults["account_funded"] = True


def _account_unfunded(fleet: SimFleet, node: SimNode) -> None:
    node.faults.pop("account_funded", None)
    pubkey = node.deploy_env().get("ACCOUNT_PUBKEY")
    chain = _chain(node)
    if pubkey and chain.funded_unsigned(account_address(pubkey)):
        chain.accounts.pop(account_address(pubkey), None)


def _marker(name: str, text: str = ""):
    """A fault that is a file in the node's .sim/ (what its fake tools read)."""

    def apply(fleet: SimFleet, node: SimNode) -> None:
        (node.home / ".sim" / name).write_text(text)

    def clear(fleet: SimFleet, node: SimNode) -> None:
        (node.home / ".sim" / name).unlink(missing_ok=True)

    return apply, clear


def _disk(full: bool):
    def change(fleet: SimFleet, node: SimNode) -> None:
        if full:
            node.faults["disk_full"] = True
        else:
            node.faults.pop("disk_full", None)
        node.write_disk()

    return change


def _golem(flag: str):
    """A Golem provider's fault, read by its yagna, golemsp and ya-provider."""

    def change(on: bool):
        def act(fleet: SimFleet, node: SimNode) -> None:
            if node.stack != "golem":
                raise FaultError(f"node {node.name} runs no Golem provider")
            node.golem.set_fault(flag, on)

        return act

    return change(True), change(False)


def _golem_stopped(fleet: SimFleet, node: SimNode) -> None:
    if node.units.get("golemsp") is None:
        raise FaultError(f"node {node.name} has no golemsp unit")
    node.units.act("golemsp", "stop")


def _golem_started(fleet: SimFleet, node: SimNode) -> None:
    if node.units.get("golemsp") is not None:
        node.units.act("golemsp", "start")


FAULTS: dict[str, Fault] = {
    f.kind: f
    for f in [
        Fault("host-down", "SSH refused: the host is down", _host_down, _host_up),
        Fault("host-hung", "SSH accepts and never answers", _hung, _unhung),
        Fault("slow-link", "every SSH round trip takes 0.5 s longer", *_flag("slow_link", 0.5)),
        Fault("gpu-hot", "GPUs at 92 °C with thermal slowdown", *_gpu("hot", lambda n: True)),
        Fault(
            "gpu-xid79",
            "GPU 0 fell off the bus (Xid 79): missing from NVML",
            *_gpu("fallen_off_bus", lambda n: 0, xid=79),
        ),
        Fault(
            "gpu-ecc",
            "uncorrectable ECC errors on GPU 0 (Xid 48)",
            *_gpu("ecc_uncorrectable", lambda n: 0, xid=48),
        ),
        *(
            Fault(kind, what, *_card(attr, value))
            for kind, (attr, value, what) in GAUDI_FAULTS.items()
        ),
        *(
            Fault(kind, what, *_card(attr, value, "amd"))
            for kind, (attr, value, what) in AMD_FAULTS.items()
        ),
        Fault(
            "crash-loop",
            "the node's main container restarts over and over",
            *_container_fault("crash_loop"),
        ),
        Fault(
            "chain-crash-loop",
            "the chain node's container (`node`) restarts over and over",
            *_container_fault("chain_crash_loop", "node"),
            needs_chain=True,
        ),
        Fault(
            "grants-expiring",
            "the cold key's grants and fee allowance expire in 10 days",
            *_grants_aged("grants_expiring", YEAR_S - 10 * 86400),
            needs_chain=True,
        ),
        Fault(
            "grants-expired",
            "the cold key's grants and fee allowance expired yesterday",
            *_grants_aged("grants_expired", YEAR_S + 86400),
            needs_chain=True,
        ),
        Fault(
            "account-funded",
            "the cold account got coins before registering: it exists with sequence 0",
            _account_funded,
            _account_unfunded,
            needs_chain=True,
        ),
        Fault(
            "unhealthy",
            "the node's main container fails its health check",
            *_container_fault("unhealthy"),
        ),
        Fault(
            "chain-stalled",
            "the chain's height stops",
            lambda f, n: _chain(n).stall(),
            lambda f, n: _chain(n).unstall(),
            needs_chain=True,
        ),
        Fault(
            "catching-up",
            "the chain node is catching up",
            *_chain_fault("catching_up"),
            needs_chain=True,
        ),
        Fault(
            "no-peers", "the chain node has no peers", *_chain_fault("no_peers"), needs_chain=True
        ),
        Fault(
            "jailed",
            "the validator is jailed: out of the set",
            *_chain_fault("jailed"),
            needs_chain=True,
        ),
        Fault(
            "gaudi-other-release",
            "the server's container runs an image of Intel Gaudi 1.17 on the 1.24 driver",
            *_other_release(),
        ),
        Fault(
            "chain-upgrade",
            "an approved upgrade (v0.2.16) 40 blocks ahead: the node switches where its binary "
            "is prepared in Cosmovisor's directory, else the chain halts there",
            lambda f, n: _chain(n).plan_upgrade("v0.2.16", 40),
            _cancel_upgrade,
            needs_chain=True,
        ),
        Fault(
            "gov-proposal",
            "a software-upgrade proposal opens, its voting ending in 20 hours",
            lambda f, n: _chain(n).propose(
                "v0.2.16 software upgrade", "Upgrade the chain to v0.2.16 at a set height.", 72000
            ),
            lambda f, n: [_chain(n).withdraw(pid) for pid in list(_chain(n).proposals)],
            needs_chain=True,
        ),
        Fault(
            "poc-running",
            "PoC runs on the cluster's chain from now (until the fault clears), the next a "
            "mainnet epoch later",
            lambda f, n: setattr(_chain(n).faults, "poc_at", _chain(n).height()),
            lambda f, n: setattr(_chain(n).faults, "poc_at", None),
            needs_chain=True,
        ),
        Fault(
            "cpoc-running",
            "a confirmation PoC runs on the cluster's chain now",
            *_chain_fault("confirmation_poc"),
            needs_chain=True,
        ),
        *(
            Fault(kind, what, *_miss_rate(rate), needs_chain=True)
            for kind, (rate, what) in MISS_FAULTS.items()
        ),
        Fault("disk-full", "the data disk is 99.3 % full", _disk(True), _disk(False)),
        Fault(
            "gpu-na",
            "GPU 0 answers [N/A] to nvidia-smi (faulty until reset)",
            *_marker("gpu-na", "0\n"),
        ),
        Fault(
            "no-toolkit",
            "the NVIDIA container toolkit is not installed: docker has no nvidia runtime",
            *_marker("no-nvidia-runtime"),
        ),
        Fault(
            "no-habana-runtime",
            "Habana's container runtime is not registered: docker has no habana runtime",
            *_marker("no-habana-runtime"),
        ),
        Fault(
            "compose-v1",
            "only the old docker-compose (v1): no `docker compose` plugin",
            *_marker("no-compose-plugin"),
        ),
        Fault("inference-slow", "inference p95 above 2 s", *_flag("inference_slow")),
        Fault("inference-503", "inference answers 503", *_flag("inference_503")),
        Fault(
            "cpu-fallback",
            "the model runs 62 % on the CPU (Ollama's /api/ps: size_vram below size)",
            *_flag("cpu_fallback"),
        ),
        Fault(
            "admin-public",
            "the admin API's 9200 published on every interface (an edited compose file)",
            _admin_public,
            _ports_private,
        ),
        Fault(
            "ports-public",
            "9100/8080/5050 published on every interface, as Gonka's compose alone does",
            _ports_public,
            _ports_private,
        ),
        Fault("golem-down", "the Golem provider's service stopped", _golem_stopped, _golem_started),
        Fault(
            "golem-no-offers",
            "yagna runs and publishes no offer (a runtime's test fails)",
            *_golem("no-offers"),
        ),
        Fault(
            "golem-vm", "no access to /dev/kvm: the VM runtime is invalid", *_golem("vm-no-access")
        ),
        Fault("golem-relay", "the Golem relay cannot be reached", *_golem("relay")),
        Fault(
            "golem-payment",
            "yagna's payment driver reports RPC errors (polygon)",
            *_golem("payment-driver"),
        ),
        # last: the demo menu keeps its order
        Fault(
            "channel-drop",
            "the next command's SSH channel is refused, the connection stays up (a loaded sshd)",
            *_flag("channel_drop"),
        ),
    ]
}
