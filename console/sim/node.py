"""One simulated node: its sandbox, GPUs, containers, services and faults.

The sandbox is the node's home: `bin/` holds its tools (fake nvidia-smi, inferenced, ufw,
hf, docker, docker-compose, apt-get, sudo, df, python3; console/sim/tools), `lib/` the fake
libnvidia-ml.so.1, and `.sim/` the state the tools share with the simulator: GPU readings,
the docker socket, the node's description.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import py_compile
import re
import shlex
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.core.atomic import atomic_write_text
from console.sim import gpus as simgpus
from console.sim import tools
from console.sim.chain import ChainSim
from console.sim.containers import (
    COMPOSE_SUBNET,
    ContainerSet,
    compose_address,
    deployed_services,
    expected_services,
)
from console.sim.docker_api import docker_router
from console.sim.golem import GolemHost
from console.sim.gpus import GpuFaults, GpuSnapshot
from console.sim.http import Listener, Router
from console.sim.ollama import DEFAULTS as OLLAMA_DEFAULTS
from console.sim.ollama import OllamaHost, unit_text
from console.sim.services import (
    admin_router,
    cometbft_router,
    golem_router,
    mlnode_router,
    ollama_router,
    public_router,
    vllm_router,
)
from console.sim.units import Units, systemd_router

if TYPE_CHECKING:
    from console.sim.fleet import SimFleet

# the driver's words after the Xid number in the kernel log
XID_TEXT = {
    79: "GPU has fallen off the bus.",
    48: "An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer.",
}
UNPUBLISHED = {"rpc"}  # services of service_table that listen only at their container

# the container whose trouble the crash-loop and unhealthy faults cause, per role
MAIN_CONTAINER = {
    ("gonka", "network"): "api",
    ("gonka", "ml"): "mlnode-308",
    ("ollama", "provider"): "ollama",
    ("vllm", "server"): "vllm",
}


DOCKER_UNIT = (
    "[Unit]\nDescription=Docker Application Container Engine\n\n"
    "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\n"
    "\n[Install]\nWantedBy=multi-user.target\n"
)


def install_tools(home: Path, nvml_lib: Path | None, vendor: str = "nvidia") -> None:
    """Lay out a node sandbox at `home`: bin/ with the fake tools (its devices' vendor's
    alone: a Gaudi node has hl-smi, no nvidia-smi and no NVML), lib/, .sim/.

    Also used to give the real OpenSSH test hosts of the harness simulated GPUs and tools.
    """
    for d in (home / "bin", home / "lib", home / ".sim"):
        d.mkdir(parents=True, exist_ok=True)
    others = {t for v, names in tools.VENDOR_TOOLS.items() if v != vendor for t in names}
    for tool in tools.TOOLS:
        if tool not in tools.INSTALLED_LATER and tool not in others:
            tools.install(home, tool)

    def script(name: str, body: str) -> None:
        path = home / "bin" / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)

    # the node's python3: a plain interpreter (not this virtualenv, whose editable-install
    # hooks cost every start ~15 ms that a real node does not pay) that has pynvml, as a
    # node with nvidia-ml-py installed has: the tests read the simulated NVML with NVIDIA's
    # own binding there (the probe reads it through ctypes, pynvml or not)
    site = home / "lib" / "python"
    site.mkdir(exist_ok=True)
    # the node's own network (its localhost, and nothing past loopback) for its Python
    shutil.copyfile(Path(tools.__file__).with_name("node_network.py"), site / "sitecustomize.py")
    try:
        import pynvml

        link = site / "pynvml.py"
        if not link.exists():
            link.symlink_to(Path(pynvml.__file__).resolve())
            # compiled now: parsing its 5,000 lines would cost every import ~65 ms
            py_compile.compile(str(link), importlib.util.cache_from_source(str(link)))
    except ImportError:  # without pynvml here, those tests cannot read it so
        pass
    base = shlex.quote(tools.plain_python())
    path = f'PYTHONPATH={shlex.quote(str(site))}"${{PYTHONPATH:+:$PYTHONPATH}}"'
    script("python3", f'{path} exec {base} "$@"')
    if nvml_lib is not None and vendor == "nvidia":
        link = home / "lib" / "libnvidia-ml.so.1"
        if not link.exists():
            link.symlink_to(nvml_lib)


def address(block: int, index: int) -> str:
    """The index-th address of a 127.<block>.0.0/16 loopback block."""
    return f"127.{block}.{index // 250}.{index % 250 + 1}"


class SimNode:
    def __init__(
        self,
        fleet: SimFleet,
        index: int,
        name: str,
        cluster: str,
        stack: str,
        role: str,
        gpu_count: int,
        gpu_type: str | None,
        models: list[str],
        chain: ChainSim | None,
    ) -> None:
        self.fleet = fleet
        self.index = index
        self.name = name
        self.cluster = cluster
        self.stack = stack
        self.role = role
        self.gpu_count = gpu_count
        self.gpu_type = gpu_type
        self.models = models or ["model"]
        self.chain = chain  # the cluster's chain, on its network node only
        self.home = fleet.root / "nodes" / name
        self.public_address = address(fleet.block, index)
        self.private_address = address(fleet.block + 1, index)
        self.netns: str | None = None  # set when the node sits behind a real sshd
        self.containers = ContainerSet(
            name,
            "join" if stack == "gonka" else stack,
            self._containers_changed,
            self.container_address,
        )
        self.faults: dict[str, Any] = {}
        self.gpu_faults = GpuFaults()
        self.admin_nodes: dict[str, dict] = {}
        self.seeded_keys: dict[str, dict] = {}  # a deployed fleet's warm key, not on disk
        self.ml_state = "INFERENCE"
        self.loaded_model: str | None = None
        self.served = 0
        self.started = time.time()
        self.pulled_images: set[str] = set()
        self.listeners: dict[str, tuple[str, Listener]] = {}  # key -> (container, listener)
        # the ports reached only at a container's address, not on the node's 127.0.0.1
        self.unpublished_ports: set[int] = set()
        self.ports: dict[int, int] = {}  # port as the node sees it -> port bound here
        self.docker_listener: Listener | None = None
        self.systemd_listener: Listener | None = None
        self.units = Units(self.home, self._containers_changed)  # services on the host
        self.ollama = OllamaHost(self.home)  # Ollama, where it is installed on the host
        self.golem = GolemHost(self.home)  # a Golem provider, where one is installed
        self._xid_seq = 0
        self._logged = 0.0  # when the main container last wrote a log line

    # -- description
    @property
    def serves_model(self) -> bool:
        return self.stack != "gonka" or self.role == "ml" or bool(self.fleet.models_of(self))

    def expected_containers(self) -> list[str]:
        return expected_services(self.stack, self.role, self.serves_model)

    def deployed_containers(self) -> list[str]:
        """What a deploy of the simulator's release leaves running (versiond too)."""
        return deployed_services(self.stack, self.role, self.serves_model)

    def serving_process(self) -> str:
        """What serves this node's model: a container, or `unit:NAME` on the host (a Golem
        provider serves one through the Ollama beside it, where it has a model)."""
        if self.stack == "golem":
            return "unit:ollama" if self.fronts_ollama else "unit:golemsp"
        return "unit:ollama" if self.stack == "ollama" else self.expected_containers()[0]

    @property
    def fronts_ollama(self) -> bool:
        """A Golem provider with a model in the profile: a host Ollama serves it."""
        return self.stack == "golem" and bool(self.fleet.models_of(self))

    def running(self, what: str) -> bool:
        """Whether a container, or a host unit (`unit:NAME`; `unit:NAME@public` where it
        listens on every address too) runs."""
        if not what.startswith("unit:"):
            return self.containers.running(what)
        name, _, scope = what[len("unit:") :].partition("@")
        unit = self.units.get(name)
        if unit is None or not unit.active:
            return False
        bind = unit.environment.get("OLLAMA_HOST", OLLAMA_DEFAULTS["OLLAMA_HOST"])
        everywhere = ("0.0.0.0", "")  # noqa: S104 - what the node's OLLAMA_HOST may say
        return scope != "public" or bind.removeprefix("http://").split(":")[0] in everywhere

    def install_ollama(self, version: str, models: list[str]) -> None:
        """Ollama as a deployed node has it: installed on the host, its unit running with
        Ollama's defaults, the node's models pulled and the first one loaded."""
        self.ollama.install(version)
        tools.install(self.home, "ollama")
        unit = self.units.unit_file("ollama")
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(unit_text())
        self.units.daemon_reload()
        self.units.act("ollama", "enable")
        self.units.act("ollama", "start")
        for m in models:
            self.ollama.pull(m)
        if models:
            self.ollama.load(models[0], 10.0**9)

    def install_golem(self) -> None:
        """A provider as a deployed node has it: installed, its unit running golemsp."""
        from console.sim.golem import CORE, VM, WASI  # noqa: PLC0415

        self.golem.install(CORE, VM, WASI)
        unit = self.units.unit_file("golemsp")
        unit.parent.mkdir(parents=True, exist_ok=True)
        home, bindir = self.home, self.golem.bin
        unit.write_text(
            "[Service]\nUser=golem\n"
            f"Environment=HOME={home} NODE_NAME={self.name}\n"
            f"ExecStart={bindir}/golemsp run --no-interactive\n"
        )
        self.units.daemon_reload()
        self.units.act("golemsp", "enable")
        self.units.act("golemsp", "start")

    def follow_golem(self) -> None:
        """What `golemsp run` does when its unit starts, and its offers gone when it stops."""
        unit = self.units.get("golemsp")
        if unit is not None and unit.active:
            if self.golem.started_at != unit.since:
                self.golem.run(unit.environment)
                self.golem.started_at = unit.since
        elif self.golem.started_at is not None:
            self.golem.stopped()

    def _cosmovisor(self) -> Path | None:
        """The deploy's .inference/cosmovisor, wherever the profile put the deploy (looked
        for until found: the sandbox is walked, not each tick once it is known)."""
        found = getattr(self, "_cosmovisor_dir", None)
        if found is None:
            found = next(self.home.glob("**/.inference/cosmovisor"), None)
            self._cosmovisor_dir = found
        return found

    def _follow_upgrade(self, now: float, chain_node) -> None:
        """Cosmovisor at an upgrade's height: the new binary, or the halt it writes down."""
        plan = self.chain.upgrade
        cosmovisor = self._cosmovisor()

        def prepared(name: str) -> bool:
            return (
                cosmovisor is not None
                and (cosmovisor / "upgrades" / name / "bin" / "inferenced").is_file()
            )

        if self.chain.reach_upgrade(prepared) == "halted" and cosmovisor is not None:
            info = {"name": plan["name"], "height": plan["height"], "info": ""}
            data = cosmovisor.parent / "data"
            data.mkdir(parents=True, exist_ok=True)
            (data / "upgrade-info.json").write_text(json.dumps(info))
        if plan["outcome"] == "halted" and chain_node is not None:
            self._crash(
                chain_node,
                now,
                f'UPGRADE "{plan["name"]}" NEEDED at height: {plan["height"]}: '
                "ERR failed to run cosmovisor: no upgrade binary",
            )

    def main_container(self) -> str:
        if self.stack == "golem":
            return self.serving_process()
        return MAIN_CONTAINER.get((self.stack, self.role), self.expected_containers()[0])

    def approved_models(self) -> set[str]:
        return set(self.fleet.declared_models)

    def gpu_snapshot(self, now: float | None = None) -> GpuSnapshot:
        busy = self.running("mlnode-308" if self.stack == "gonka" else self.serving_process())
        return simgpus.readings(
            self.name, self.gpu_count, self.gpu_type, busy, now or time.time(), self.gpu_faults
        )

    # -- sandbox
    def prepare(self, nvml_lib: Path | None) -> None:
        install_tools(self.home, nvml_lib, simgpus.vendor_of(self.gpu_type))
        docker = self.units.unit_file("docker")  # the engine, as a service of the host
        if not docker.exists():
            docker.parent.mkdir(parents=True, exist_ok=True)
            docker.write_text(DOCKER_UNIT)
        (self.home / ".sim" / "node.json").write_text(json.dumps(self.describe(), indent=1))
        self.write_readings()

    def keyring(self) -> dict[str, dict]:
        """The keys in the node's file keyring (the api container's /root/.inference, which
        the fake `docker exec api inferenced …` reaches as $HOME/.inference): name -> info."""
        out = dict(self.seeded_keys)
        for path in (self.home / ".inference" / "keyring-file").glob("*.info"):
            with contextlib.suppress(OSError, ValueError):
                out[path.stem] = json.loads(path.read_text())
        return out

    def deploy_env(self) -> dict[str, str]:
        """config.env in the cluster's deploy directory, as the containers got it."""
        written = self.fleet.written  # its directories as the fleet's profile gives them
        cluster = written.cluster_of(self.name)
        where = written.stack_settings(cluster).deploy_dir if cluster else None
        if not where or not where.startswith("~/"):
            return self._seeded_env()  # a system path: not inside this sandbox
        path = self.home / where[2:] / "config.env"
        env: dict[str, str] = {}
        if not path.exists():
            return self._seeded_env()
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                m = re.match(r"export (\w+)=(.*)$", line.strip())
                if m:
                    with contextlib.suppress(ValueError):
                        env[m.group(1)] = " ".join(shlex.split(m.group(2)))
        return env

    def _seeded_env(self) -> dict[str, str]:
        """A fleet simulated as deployed has no config.env: it behaves as if it named the
        account that registered this node's consensus key, and the seeded warm key."""
        ours = self.chain.ours() if self.chain else None
        if ours is None or not self.seeded_keys:
            return {}
        return {"ACCOUNT_PUBKEY": ours.account_pubkey, "KEY_NAME": next(iter(self.seeded_keys))}

    def describe(self) -> dict:
        network = self.fleet.network_node(self.cluster)
        return {
            "name": self.name,
            "cluster": self.cluster,
            "stack": self.stack,
            "role": self.role,
            "models": self.models,
            "public_address": self.public_address,
            "private_address": self.private_address,
            "chain_api": f"http://{network.public_address}:{network.ports.get(8000, 8000)}"
            if network
            else None,
            "expected_containers": self.expected_containers(),
        }

    def session_env(self) -> dict[str, str]:
        """The environment of a command run on this node (and the connect log of a test
        that records where the fleet's programs connect: node_network.py)."""
        audit = {k: v for k, v in os.environ.items() if k == "FLEETDECK_CONNECT_LOG"}
        return audit | {
            "HOME": str(self.home),
            "USER": "fleetdeck",
            "LOGNAME": "fleetdeck",
            "PATH": f"{self.home / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "LD_LIBRARY_PATH": str(self.home / "lib"),
            "LANG": "C.UTF-8",
            "DOCKER_HOST": f"unix://{self.home / '.sim' / 'docker.sock'}",
            "FLEETDECK_SIM_NODE": self.name,
            "FLEETDECK_HOSTNAME": self.name,
            # where the node's driver status files are (a Gaudi card's sysfs `status`)
            "FLEETDECK_SYSFS": str(self.home / ".sim" / "sys"),
            "SHELL": "/bin/sh",
        }

    # -- services
    def service_table(self) -> list[tuple[str, str, str, int, Router]]:
        """(key, container, address, port, router) of every HTTP service of this node."""
        out: list[tuple[str, str, str, int, Router]] = []
        priv, pub = self.private_address, self.public_address
        if self.stack == "gonka":
            if self.role == "network":
                public = public_router(self)
                out += [
                    # not published (0.2.9): at the container's own address
                    ("rpc", "node", self.container_address("node"), 26657, cometbft_router(self)),
                    ("admin", "api", priv, 9200, admin_router(self)),
                    # a published port listens on every address of the host
                    ("public", "proxy", pub, 8000, public),
                    ("public-local", "proxy", priv, 8000, public),
                ]
            if "mlnode-308" in self.expected_containers():
                out += [
                    ("mlnode", "inference", priv, 8080, mlnode_router(self)),
                    ("inference", "inference", priv, 5050, vllm_router(self, "inference")),
                ]
        elif self.stack == "golem":
            out.append(("yagna", "unit:golemsp", priv, 7465, golem_router(self)))
        if self.stack == "ollama" or self.fronts_ollama:
            ollama = ollama_router(self)
            out.append(("ollama", "unit:ollama", priv, 11434, ollama))
            # OLLAMA_HOST=0.0.0.0: on every address, the node's public one too
            out.append(("ollama-public", "unit:ollama@public", pub, 11434, ollama))
        if self.stack == "vllm":
            out.append(("vllm", "vllm", priv, 8000, vllm_router(self, "vllm")))
        return out

    def container_address(self, service: str) -> str:
        """A container's address, where the ports the compose files do not publish listen.
        Behind a real host (its own network namespace, with the compose subnet on its
        loopback) it is the compose address docker would give; in the fleet that shares
        this machine it is the node's private loopback address, so that a deploy or a
        collector reaching it never sends this machine's traffic anywhere else."""
        return compose_address(service) if self.netns else self.private_address

    def place_behind(self, home: Path, netns: str, public_address: str) -> None:
        """Sit behind a real OpenSSH host running in network namespace `netns`: the node's
        sandbox is that host's home, its private services listen on the namespace's own
        127.0.0.1 and its published ports on the namespace's address."""
        self.home = home
        self.units = Units(home, self._containers_changed)
        self.ollama = OllamaHost(home)
        self.golem = GolemHost(home)
        self.netns = netns
        self.public_address = public_address
        self.private_address = "127.0.0.1"

    def open_services(self) -> None:
        loop = self.fleet.loop
        for key, container, addr, port, router in self.service_table():
            listener = Listener(loop, addr, port, router, netns=self.netns)
            self.listeners[key] = (container, listener)
            if key in UNPUBLISHED:
                self.unpublished_ports.add(port)
        self.write_network()
        sock = self.home / ".sim" / "docker.sock"
        sock.unlink(missing_ok=True)
        self.docker_listener = Listener(loop, str(sock), None, docker_router(self))
        self.docker_listener.start()
        sock = self.home / ".sim" / "systemd.sock"
        sock.unlink(missing_ok=True)
        self.systemd_listener = Listener(loop, str(sock), None, systemd_router(self.units))
        self.systemd_listener.start()
        self.units.daemon_reload()  # what an earlier run of this sandbox installed
        self.units.act("docker", "start")
        self.reconcile()

    def reconcile(self) -> None:
        """Open each service while its container runs and the host is up; close it else."""
        up = not self.faults.get("host_down")
        for container, listener in self.listeners.values():
            want = up and self.running(container)
            if want and not listener.open:
                self._bind(listener)
            elif not want and listener.open:
                listener.stop()

    def _bind(self, listener: Listener) -> None:
        wanted = self.ports.get(listener.port, listener.port)
        try:
            listener.port = wanted
            listener.start()
        except OSError:
            # the real port is taken on this machine (by something bound to 0.0.0.0):
            # take any free one and remember the mapping for SSH forwards
            original = next((k for k, v in self.ports.items() if v == wanted), wanted)
            listener.port = 0
            listener.start()
            assert listener.server is not None
            listener.port = listener.server.sockets[0].getsockname()[1]
            self.ports[original] = listener.port
            self.write_network()
            return
        self.ports.setdefault(wanted, wanted)

    def write_network(self) -> None:
        """Tell the node's Python programs where its localhost services listen
        (console/sim/tools/node_network.py reads it)."""
        lines = [f"private={self.private_address}"]
        if self.netns:  # the compose subnet is on the namespace's own loopback there
            lines.append(f"local={COMPOSE_SUBNET}")
        lines += [f"{port}={bound}" for port, bound in sorted(self.ports.items()) if port != bound]
        atomic_write_text(self.home / ".sim" / "net", "\n".join(lines) + "\n")

    def close_services(self) -> None:
        for _, listener in self.listeners.values():
            listener.stop()
        for sock in (self.docker_listener, self.systemd_listener):
            if sock:
                sock.stop()

    def _containers_changed(self) -> None:
        if self.stack == "golem":
            self.follow_golem()
        if self.listeners:
            self.reconcile()

    def after_container_change(self, name: str) -> None:
        """Called by the docker API after a start/stop/restart the operator asked for."""
        self.reconcile()

    # -- time passing
    def write_readings(self, now: float | None = None) -> None:
        if self.gpu_faults.driver_gone:  # no readings at all: the vendor's tool finds no driver
            (self.home / ".sim" / "gpus.txt").unlink(missing_ok=True)
            return
        snapshot = self.gpu_snapshot(now)
        simgpus.write(self.home / ".sim" / "gpus.txt", snapshot)
        if simgpus.vendor_of(self.gpu_type) == "gaudi":
            simgpus.write_sysfs(self.home / ".sim" / "sys", snapshot)
            simgpus.write_links(self.home / ".sim" / "hl-link", snapshot)

    def _crash(self, c, now: float, why: str) -> None:
        with self.containers.lock:
            if c.state == "running" or now - c.finished_at > 2:
                c.state, c.exit_code, c.finished_at = "restarting", 1, now
                c.restart_count += 1
                c.log(why, "stderr")
        self.reconcile()

    def tick(self, now: float) -> None:
        self.write_readings(now)
        chain_node = self.containers.items.get("node")
        if self.faults.get("chain_crash_loop") and chain_node is not None:
            self._crash(chain_node, now, "panic: failed to initialize database: leveldb corrupt")
        if self.chain is not None and self.role == "network" and self.chain.upgrade is not None:
            self._follow_upgrade(now, chain_node)
        name = self.main_container()
        c = self.containers.items.get(name)
        if c is None:
            return
        if self.faults.get("crash_loop"):
            self._crash(c, now, "panic: failed to load model weights: CUDA error: out of memory")
        if c.state == "running" and now - self._logged >= 5:  # a running service logs
            self._logged = now
            c.log(f"{self.name} {name}: serving, {self.served} requests so far")
        if self.faults.get("unhealthy") and c.state == "running":
            c.health = "unhealthy"
            c.failing_streak += 1

    # -- faults
    def log_kernel(self, message: str) -> None:
        """A kernel message, as `dmesg --time-format iso` prints it (the fake dmesg's)."""
        stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace(".", ",")
        with open(self.home / ".sim" / "kmsg", "a") as f:
            f.write(f"{stamp} {message}\n")

    def add_xid(self, gpu_index: int, xid: int) -> None:
        self._xid_seq += 1
        self.gpu_faults.xid_events.append((self._xid_seq, gpu_index, xid))
        kmsg = self.home / ".sim" / "kmsg"
        # as `dmesg --time-format iso` prints it; the probe reads it for the Xids before it ran
        stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace(".", ",")
        bus = self.gpu_snapshot().gpus[gpu_index].pci_bus_id[4:-2].lower()
        what = XID_TEXT.get(xid, "Graphics Exception")
        with open(kmsg, "a") as f:
            f.write(
                f"{stamp} NVRM: Xid (PCI:{bus}): {xid}, pid='<unknown>', name=<unknown>, {what}\n"
            )

    def disk(self) -> tuple[int, int]:
        """(total, used) KiB of the node's data disk."""
        total = 3_840_000_000  # 3.84 TB NVMe
        used = int(total * (0.993 if self.faults.get("disk_full") else 0.41))
        return total, used

    def write_disk(self) -> None:
        total, used = self.disk()
        (self.home / ".sim" / "disk.json").write_text(
            json.dumps({"total_kb": total, "used_kb": used})
        )
