"""A whole simulated fleet, built from a profile: nodes, chains, SSH, services, faults.

`SimFleet.start()` brings it up in this process; `fleetdeck sim up` runs it in a
background daemon (console/sim/daemon.py) and writes DIR/profile.toml, the same fleet
pointing at the simulated nodes, with its SSH key and known_hosts.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets as secrets_lib
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko
import tomlkit

from console.core.atomic import atomic_write_text
from console.core.profile import Profile, loads
from console.core.profile.names import spelled
from console.core.secrets import Redactor, resolve
from console.sim import gpus as simgpus
from console.sim import nvml, tools
from console.sim.chain import ChainSim, account_address
from console.sim.containers import deployed_bindings
from console.sim.deployrepo import make_gonka_repo
from console.sim.faults import (
    AMD_FAULTS,
    FAULTS,
    GAUDI_FAULTS,
    MISS_FAULTS,
    OTHER_RELEASE_IMAGE,
    FaultError,
)
from console.sim.golem import INSTALLER as GOLEM_INSTALLER
from console.sim.http import Loop
from console.sim.node import SimNode
from console.sim.ollama import INSTALLER as OLLAMA_INSTALLER
from console.sim.ollama import LATEST as OLLAMA_LATEST
from console.sim.sshserver import SshServer

SSH_USER = "fleetdeck"


@dataclass(frozen=True)
class ExternalHost:
    """A real sshd (in its own network namespace) that a simulated node sits behind."""

    home: Path
    netns: str
    address: str
    port: int
    known_hosts_line: str
    user: str = "root"


def secrets_token(key: str) -> str:
    """A simulated fleet's secret: random, and shell-safe for secrets.env."""
    return f"sim-{key.replace('_', '-')}-{secrets_lib.token_hex(12)}"


class SimFleet:
    def __init__(
        self,
        profile: Profile,
        root: Path,
        block: int = 20,
        block_time: float = 1.0,
        deployed: bool = True,
        tick: float = 1.0,
        clock=time.time,
        external: dict[str, ExternalHost] | None = None,
        epoch_blocks: int = 240,
        operator_ready: bool = False,
    ) -> None:
        self.profile = profile
        # `sim up --fresh`: the profile written is deployable by an operator's commands
        # alone (_deployable); a test harness gives its own repository and secrets
        self.operator_ready = operator_ready
        self.model = profile.model
        self.written = profile.model  # the profile as written for the fleet (_write_access)
        self.root = Path(root).resolve()
        self.block = block  # nodes take 127.<block>.x.y (public) and 127.<block+1>.x.y
        self.deployed = deployed
        self.tick_interval = tick
        self.clock = clock
        self.declared_models = list(self.model.models)
        self.chains: dict[str, ChainSim] = {}
        self.nodes: dict[str, SimNode] = {}
        for index, (cluster, n) in enumerate(self.model.all_nodes()):
            stack = self.model.cluster_stack(cluster)
            chain = None
            if stack == "gonka" and n.role == "network":
                settings = self.model.stack_settings(cluster)
                chain = ChainSim(
                    settings.chain_id or "gonka-sim",
                    n.name,
                    block_time,
                    epoch_length=epoch_blocks,
                    clock=clock,
                    release=getattr(settings, "ref", None) or "v0.2.14",
                )
                self.chains[cluster.name] = chain
            models = [n.model] if n.model else list(n.models)
            self.nodes[n.name] = SimNode(
                self,
                index,
                n.name,
                cluster.name,
                stack,
                n.role,
                n.gpus if n.gpus is not None else 0,
                n.gpu_type,
                models,
                chain,
            )
        self.external = dict(external or {})
        for name, host in self.external.items():
            self.nodes[name].place_behind(host.home, host.netns, host.address)
        self.loop: Loop | None = None
        self.client_key = paramiko.ECDSAKey.generate()
        self.ssh = SshServer(self.client_key)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- lookups used by the nodes' services
    def models_of(self, node: SimNode) -> list[str]:
        return node.models if node.models != ["model"] else []

    def network_node(self, cluster: str) -> SimNode | None:
        return next(
            (
                n
                for n in self.nodes.values()
                if n.cluster == cluster and n.stack == "gonka" and n.role == "network"
            ),
            None,
        )

    def chain_of(self, node: SimNode) -> ChainSim | None:
        return self.chains.get(node.cluster)

    def node_by_host(self, host: str) -> SimNode | None:
        for n in self.nodes.values():
            if host in (n.name, n.public_address, n.private_address):
                return n
        return None

    # -- life cycle
    @property
    def key_path(self) -> Path:
        return self.root / "id_ecdsa"

    @property
    def known_hosts_path(self) -> Path:
        return self.root / "known_hosts"

    @property
    def profile_path(self) -> Path:
        return self.root / "profile.toml"

    def start(self, stop: threading.Event | None = None) -> bool:
        """Bring every node up; False when `stop` was set meanwhile (what started so far is
        left for `stop()`: a Ctrl-C while hundreds of nodes start must not wait for them)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.loop = Loop()
        lib = nvml.build(self.root / "lib")
        for node in self.nodes.values():
            if stop is not None and stop.is_set():
                return False
            node.prepare(lib)
            node.write_disk()
            node.open_services()
            if node.name not in self.external:
                self.ssh.add(node)
        if self.deployed:
            for node in self.nodes.values():
                if stop is not None and stop.is_set():
                    return False
                ports = self.bindings(node)
                for service in node.deployed_containers():
                    node.containers.create(service, ports=ports.get(service))
                    node.containers.start(service)
                if node.stack == "ollama" or node.fronts_ollama:
                    node.install_ollama(OLLAMA_LATEST, self.models_of(node) or node.models)
                if node.stack == "golem":
                    node.install_golem()
                self._seed_admin(node)
        for node in self.nodes.values():
            node.prepare(lib)  # again: node.json now carries the bound ports
        self.ssh.start()
        self._write_access()
        self._ticker = threading.Thread(target=self._tick_loop, daemon=True, name="sim-tick")
        self._ticker.start()
        return True

    def bindings(self, node: SimNode) -> dict[str, tuple[tuple[int, str, int], ...]]:
        """The private ports of a deployed node as fleetdeck's deploy binds them (to the
        loopback and the address the profile gives the node), not on every interface."""
        if node.stack != "gonka":
            return {}
        profile_node = next(n for _, n in self.model.all_nodes() if n.name == node.name)
        remote_ml = any(n.role == "ml" and n.cluster == node.cluster for n in self.nodes.values())
        address = profile_node.private_ip or profile_node.host
        return deployed_bindings(node.role, node.serves_model, address, remote_ml)

    def _seed_admin(self, node: SimNode) -> None:
        """A deployed network node is registered and knows its cluster's ML nodes."""
        if node.stack != "gonka" or node.role != "network":
            return
        chain = self.chains[node.cluster]
        cold = base64.b64encode(b"\x02" + hashlib.sha256(node.name.encode()).digest()).decode()
        participant = chain.register(
            f"http://{node.public_address}:8000",
            cold,
            models=list(self.declared_models),
            long_ago=True,
        )
        warm = hashlib.sha256(f"warm/{node.name}".encode()).digest()
        warm_address = account_address(base64.b64encode(b"\x03" + warm).decode())
        chain.grant_ml_ops(participant.address, warm_address)
        key_name = self.model.stack_settings(self.model.cluster_of(node.name)).key_name
        node.seeded_keys[key_name or "ml-ops-key"] = {
            "name": key_name or "ml-ops-key",
            "address": warm_address,
        }
        for ml in self.nodes.values():
            if ml.cluster == node.cluster and "mlnode-308" in ml.expected_containers():
                node.admin_nodes[ml.name] = {
                    "id": ml.name,
                    # as fleetdeck's deploy writes node-config.json from the simulated
                    # profile: itself through compose's `inference`, the others by the host
                    # the profile names (their public side, or their namespace)
                    "host": "inference" if ml is node else ml.public_address,
                    "inference_port": 5050,
                    "poc_port": 8080,
                    "max_concurrent": 500,
                    "models": {
                        m: {"args": list(self.model.models[m].args)}
                        for m in ml.models
                        if m in self.model.models
                    },
                    "node_num": len(node.admin_nodes) + 1,
                    "hardware": [],
                    "version": "",
                }

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_interval):
            now = self.clock()
            for node in list(self.nodes.values()):
                try:
                    node.tick(now)
                except Exception:  # noqa: S112 - one node's bad tick must not stop the rest
                    continue

    def _write_access(self) -> None:
        """The key, known_hosts and a profile that points at the simulated nodes."""
        self.key_path.unlink(missing_ok=True)
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:  # created 0600: the key is never readable by others
            self.client_key.write_private_key(f)
        lines = [
            self.external[name].known_hosts_line
            if name in self.external
            else self.ssh.host_key_line(name)
            for name in self.nodes
        ]
        atomic_write_text(self.known_hosts_path, "\n".join(lines) + "\n", mode=0o644)
        doc = tomlkit.parse(self.profile.text())
        doc["ssh"] = doc.get("ssh", tomlkit.table())
        doc["ssh"]["user"] = SSH_USER
        doc["ssh"]["key"] = str(self.key_path)
        doc["ssh"]["known_hosts"] = str(self.known_hosts_path)
        self._inside_sandboxes(doc)
        if self.operator_ready:
            self._deployable(doc)
        stacks = {self.model.cluster_stack(c) for c in self.model.clusters}
        if stacks & {"ollama", "golem"}:
            # the nodes reach no ollama.com nor join.golem.network: the simulator's
            # stand-in installers instead, by the name the profile's [stack] gives them
            doc["stack"] = doc.get("stack", tomlkit.table())
            installers = [("ollama", "ollama_install_url", OLLAMA_INSTALLER)]
            installers += (
                [("golem", "golem_install_url", GOLEM_INSTALLER)] if "golem" in stacks else []
            )
            for stack, key, url in installers:
                for name in {key, spelled({stack}, stack, key)}:
                    doc["stack"].pop(name, None)
                doc["stack"][spelled(stacks, stack, key)] = url
        for ci, cluster in enumerate(self.model.clusters):
            for ni, n in enumerate(cluster.nodes):
                table = doc["clusters"][ci]["nodes"][ni]
                node = self.nodes[n.name]
                table["host"] = node.public_address
                if n.name in self.external:
                    table["port"] = self.external[n.name].port
                    table["user"] = self.external[n.name].user
                else:
                    table["port"] = self.ssh.ports[n.name]
                    if "user" in table:
                        del table["user"]
        text = doc.as_string()
        header = (
            f"# Simulated by fleetdeck sim from {self.profile.file}; the hosts are this "
            "machine's loopback.\n"
        )
        # still a valid profile; what the fleet's commands will read (its directories)
        self.written = loads(text, str(self.profile_path)).model
        atomic_write_text(self.profile_path, header + text, mode=0o644)

    def _inside_sandboxes(self, doc) -> None:
        """The simulated nodes share this machine's filesystem: a deploy's directories
        (/opt/gonka, HF_HOME on /mnt/shared by default) go inside each node's home."""
        stacks = {self.model.cluster_stack(c) for c in self.model.clusters}
        sandboxed = {
            "deploy_dir": "~/gonka/deploy/join" if stacks == {"gonka"} else "~/deploy",
            "hf_home": "~/hf",
        }
        doc["stack"] = doc.get("stack", tomlkit.table())
        tables = [doc["stack"]] + [
            c["settings"] for c in doc.get("clusters", []) if "settings" in c
        ]
        # a stack whose deploy has directories of its own (Ollama's install script has none)
        defaults = bool(stacks & {"gonka", "vllm"})
        for table in tables:
            for key, inside in sandboxed.items():
                given = table.get(key)
                if (table is doc["stack"] and given is None and defaults) or (
                    given is not None and not str(given).startswith("~/")
                ):
                    table[key] = inside

    def _deployable(self, doc) -> None:
        """A bare fleet's profile, made deployable end to end with fleetdeck's commands
        alone: the release from the simulator's stand-in gonka repository, the account
        keys made with the simulator's `inferenced` on this machine (where no other is
        installed), and each secret that does not resolve here (no keyring on a headless
        machine, an unset variable) an `env:` reference whose value is in secrets.env
        (0600: `. DIR/secrets.env` before the commands)."""
        if any(self.model.cluster_stack(c) == "gonka" for c in self.model.clusters):
            doc["stack"] = doc.get("stack", tomlkit.table())
            # simulated nodes reach no GitHub: the stand-in repository, unless one is named
            if not str(doc["stack"].get("repo", "")).startswith("file://"):
                url, tag = make_gonka_repo(self.root / "gonka-repo")
                doc["stack"]["repo"], doc["stack"]["ref"] = url, tag
                for c in doc.get("clusters", []):  # a cluster's own release would win
                    if "settings" in c and "ref" in c["settings"]:
                        c["settings"]["ref"] = tag
            if shutil.which(str(doc["stack"].get("cli", "inferenced"))) is None:
                (self.root / "bin").mkdir(exist_ok=True)
                tools.install(self.root, "inferenced")  # this machine's: the simulator's
                doc["stack"]["cli"] = str(self.root / "bin" / "inferenced")
        secrets = doc.get("secrets") or {}
        exports = []
        for key in list(secrets):
            try:
                resolve(str(secrets[key]), Redactor())
                continue  # it resolves here: kept as the operator wrote it
            except Exception:  # noqa: S110 - unset, no keyring, a broken one: not here
                pass
            var = "FLEETDECK_SIM_" + re.sub(r"\W", "_", key).upper()
            secrets[key] = f"env:{var}"
            exports.append(f"export {var}={secrets_token(key)}")
        if exports:
            path = self.root / "secrets.env"
            atomic_write_text(path, "\n".join(exports) + "\n", mode=0o600)

    def stop(self) -> None:
        self._stop.set()
        self.ssh.stop()
        for node in self.nodes.values():
            node.close_services()
        if self.loop:
            self.loop.stop()
        if self._ticker:
            self._ticker.join(2)

    # -- faults
    def inject(self, node_name: str, kind: str) -> None:
        fault, node = self._fault(node_name, kind)
        fault.apply(self, node)

    def clear(self, node_name: str | None = None, kind: str | None = None) -> list[str]:
        """Clear one fault, or every fault of a node, or of the whole fleet."""
        cleared = []
        names = [node_name] if node_name else list(self.nodes)
        for name in names:
            node = self.nodes.get(name)
            if node is None:
                raise FaultError(f"no node named {name!r}")
            for k in [kind] if kind else list(self.active_faults(node)):
                fault, _ = self._fault(name, k)
                fault.clear(self, node)
                cleared.append(f"{name}:{k}")
        return cleared

    def _fault(self, node_name: str, kind: str):
        node = self.nodes.get(node_name)
        if node is None:
            raise FaultError(f"no node named {node_name!r}")
        fault = FAULTS.get(kind)
        if fault is None:
            raise FaultError(f"unknown fault {kind!r}; one of: {', '.join(FAULTS)}")
        if fault.needs_chain and self.chain_of(node) is None:
            raise FaultError(f"{kind} needs a Gonka cluster; {node_name} has no chain")
        return fault, node

    def active_faults(self, node: SimNode) -> list[str]:
        out = []
        flags = {
            "host_down": "host-down",
            "host_hung": "host-hung",
            "slow_link": "slow-link",
            "channel_drop": "channel-drop",  # until a command's channel takes it
            "crash_loop": "crash-loop",
            "chain_crash_loop": "chain-crash-loop",
            "grants_expiring": "grants-expiring",
            "grants_expired": "grants-expired",
            "account_funded": "account-funded",
            "unhealthy": "unhealthy",
            "disk_full": "disk-full",
            "inference_slow": "inference-slow",
            "inference_503": "inference-503",
        }
        out += [flags[k] for k in node.faults if k in flags]
        g = node.gpu_faults
        out += ["gpu-hot"] * bool(g.hot) + ["gpu-xid79"] * (g.fallen_off_bus is not None)
        out += ["gpu-ecc"] * (g.ecc_uncorrectable is not None)
        vendor = simgpus.vendor_of(node.gpu_type)
        if vendor != "nvidia":
            table = GAUDI_FAULTS if vendor == "gaudi" else AMD_FAULTS
            out = [k for k in out if not k.startswith("gpu-")]
            out += [
                kind
                for kind, (attr, value, _) in table.items()
                if attr != "kmsg" and getattr(g, attr) == value
            ]
        if vendor == "gaudi":
            main = node.containers.items.get(node.main_container())
            out += ["gaudi-other-release"] * (
                main is not None and main.image == OTHER_RELEASE_IMAGE
            )
        chain = self.chain_of(node)
        if chain is not None and node.role == "network":
            out += ["chain-stalled"] * (chain.faults.stalled_at is not None)
            out += ["catching-up"] * chain.faults.catching_up
            out += ["no-peers"] * chain.faults.no_peers + ["jailed"] * chain.faults.jailed
            out += [k for k, (rate, _) in MISS_FAULTS.items() if chain.faults.miss_rate == rate]
            out += ["poc-running"] * (chain.faults.poc_at is not None)
            out += ["gov-proposal"] * bool(chain.proposals)
            out += ["cpoc-running"] * chain.faults.confirmation_poc
            out += ["chain-upgrade"] * (chain.upgrade is not None)
        return out
