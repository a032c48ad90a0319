"""The cloud and the profile, reconciled: `fleetdeck provision list` and `destroy`.

A machine tagged for the fleet that the profile does not name is an orphan, still
billing; a profile node whose machine is terminated or missing points at nothing; a
machine stopped, or at another address than its node's host, is said too.
"""

from __future__ import annotations

from dataclasses import dataclass

from actions.provision.action import MAKERS, POOL_LABEL, planned, pools
from actions.provision.clouds import Cloud, Clouds, Machine
from actions.types import StepFailed
from console.core.profile import Profile, ProfileError
from console.core.profile.schema import FleetProfile, Node
from console.core.secrets import REDACTOR, Redactor

OK, ORPHAN, GONE, STOPPED, MOVED, MISSING = "ok", "orphan", "gone", "stopped", "moved", "missing"
SURPLUS = "surplus"  # a pool's node past its count (the count was lowered)


@dataclass(frozen=True)
class Finding:
    kind: str  # ok | orphan | gone | stopped | moved | missing
    node: str  # the profile's node, or the machine's fleetdeck-node tag
    pool: str
    machine: Machine | None
    text: str

    def as_json(self) -> dict:
        m = self.machine
        return {
            "kind": self.kind,
            "node": self.node,
            "pool": self.pool,
            "instance": m.id if m else None,
            "state": m.state if m else None,
            "address": m.public_ip if m else None,
            "text": self.text,
        }


class Inventory:
    def __init__(self, profile: Profile, redactor: Redactor = REDACTOR, makers=None) -> None:
        self.profile = profile
        self.clouds = Clouds(makers or MAKERS)
        self.redactor = redactor

    @property
    def model(self) -> FleetProfile:
        return self.profile.model

    def _cloud(self, pool_name: str) -> Cloud | None:
        pool = next((p for p in pools(self.model) if p.name == pool_name), None)
        return self.clouds.of(self.model, pool, self.redactor) if pool else None

    def machines(self) -> list[Machine]:
        """Every machine tagged for the fleet, in each pool's account and region, once."""
        seen: dict[str, Machine] = {}
        for pool in pools(self.model):
            for m in self.clouds.of(self.model, pool, self.redactor).machines(fresh=True):
                seen.setdefault(m.id, m)
        return list(seen.values())

    def findings(self) -> list[Finding]:
        machines = self.machines()
        live = {m.node: m for m in machines if not m.gone}
        out: list[Finding] = []
        for m in machines:
            if m.gone:
                continue
            node = self.model.node(m.node)
            where = f"{m.id} ({m.state}, {m.public_ip or 'no address'}, pool {m.pool or '?'})"
            if node is None:
                out.append(
                    Finding(
                        ORPHAN,
                        m.node or m.id,
                        m.pool,
                        m,
                        f"{where} is tagged {m.node or '(no node)'} for this fleet but no node "
                        f"of the profile is: it is still billing. Destroy it with `fleetdeck "
                        f"provision destroy PROFILE {m.id}`, or give it back its node with "
                        "`fleetdeck run PROFILE provision`",
                    )
                )
            elif m.state != "running":
                out.append(Finding(STOPPED, node.name, m.pool, m, f"{node.name}: {where}"))
            elif node.host != m.public_ip:
                out.append(
                    Finding(
                        MOVED,
                        node.name,
                        m.pool,
                        m,
                        f"{node.name}: {where}, but the profile says host {node.host}: "
                        "`fleetdeck run PROFILE provision` writes the new address",
                    )
                )
            else:
                out.append(Finding(OK, node.name, m.pool, m, f"{node.name}: {where}"))
        for _, node in self.model.all_nodes():
            pool = node.labels.get(POOL_LABEL)
            if pool is None or node.name in live:
                continue
            instance = node.labels.get("instance", "its machine")
            out.append(
                Finding(
                    GONE,
                    node.name,
                    pool,
                    None,
                    f"{node.name}: {instance} is terminated or missing, but the profile still "
                    f"has the node (host {node.host}): `fleetdeck provision destroy PROFILE "
                    f"{node.name}` removes it, `fleetdeck run PROFILE provision` makes a new one",
                )
            )
        wanted = {n.name for _, n in planned(self.model)}
        for _, node in self.model.all_nodes():
            pool = node.labels.get(POOL_LABEL)
            if pool is not None and node.name not in wanted and node.name in live:
                out = [f for f in out if f.node != node.name]
                out.append(
                    Finding(
                        SURPLUS,
                        node.name,
                        pool,
                        live[node.name],
                        f"{node.name}: {live[node.name].id} runs, but pool {pool} no longer "
                        f"counts it (its count or names changed): `fleetdeck provision "
                        f"destroy PROFILE {node.name}` if it should go, else raise the count",
                    )
                )
        named = {f.node for f in out}
        plan = planned(self.model)
        for _, node in plan:
            if node.name not in named and self.model.node(node.name) is None:
                pool = node.labels.get(POOL_LABEL, "")
                out.append(Finding(MISSING, node.name, pool, None, f"{node.name}: not made yet"))
        order = {n.name: i for i, (_, n) in enumerate(plan)}  # the pools' order, then the rest
        return sorted(out, key=lambda f: order.get(f.node, len(order)))

    def resolve(self, names: list[str]) -> list[tuple[str, Machine | None, Node | None]]:
        """(name, live machine, profile node) for each name given to destroy: a node of the
        profile, or a machine's instance id or fleetdeck-node tag (an orphan)."""
        machines = self.machines()
        out = []
        for name in names:
            node = self.model.node(name)
            machine = next((m for m in machines if not m.gone and name in (m.id, m.node)), None)
            if node is None and machine is None:
                raise StepFailed(
                    f"{name}: no node of the profile and no machine of the fleet has that name"
                )
            if node is not None and node.labels.get(POOL_LABEL) is None and machine is None:
                raise StepFailed(
                    f"{name} was not provisioned by fleetdeck (no pool label): remove it "
                    "from the profile by hand"
                )
            out.append((name, machine, node))
        return out

    def destroy(self, targets: list[tuple[str, Machine | None, Node | None]], say) -> None:
        """Terminate each machine, then remove its node from the profile (saved each time:
        an interrupted destroy leaves the profile true to what is left)."""
        for name, machine, node in targets:
            if machine is not None:
                cloud = self._cloud(machine.pool or (node.labels.get(POOL_LABEL) if node else ""))
                if cloud is None:
                    raise StepFailed(
                        f"{machine.id}: its pool {machine.pool!r} is not in the profile any "
                        "more, so fleetdeck has no credentials for it: put the pool back, or "
                        "terminate it in the cloud's console"
                    )
                cloud.destroy(machine)
                say(f"{name}: {machine.id} terminated")
            if node is not None:
                try:
                    self.profile.remove_node(node.name)
                except ProfileError as exc:  # its cluster's last node, with no pool to fill it
                    raise StepFailed(str(exc)) from None
                self.profile.save()
                say(f"{name}: removed from {self.profile.file}")
