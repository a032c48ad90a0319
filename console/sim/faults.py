"""The faults that can be injected into a running simulated fleet, and cleared again.

Each one changes what a client observes the way the real failure does: a refused or hung
SSH connection, a hot GPU with thermal slowdown, a GPU missing from NVML, a restarting
container, a chain whose height stops, an inference endpoint answering 503.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


def _container_fault(name: str):
    def apply(fleet: SimFleet, node: SimNode) -> None:
        node.faults[name] = True
        node.tick(fleet.clock())

    def clear(fleet: SimFleet, node: SimNode) -> None:
        node.faults.pop(name, None)
        main = node.main_container()
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


def _chain_fault(attr: str):
    def apply(fleet: SimFleet, node: SimNode) -> None:
        setattr(_chain(node).faults, attr, True)

    def clear(fleet: SimFleet, node: SimNode) -> None:
        setattr(_chain(node).faults, attr, False)

    return apply, clear


def _disk(full: bool):
    def change(fleet: SimFleet, node: SimNode) -> None:
        if full:
            node.faults["disk_full"] = True
        else:
            node.faults.pop("disk_full", None)
        node.write_disk()

    return change


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
        Fault(
            "crash-loop",
            "the node's main container restarts over and over",
            *_container_fault("crash_loop"),
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
        Fault("disk-full", "the data disk is 99.3 % full", _disk(True), _disk(False)),
        Fault("inference-slow", "inference p95 above 2 s", *_flag("inference_slow")),
        Fault("inference-503", "inference answers 503", *_flag("inference_503")),
    ]
}
