"""The `provision` action: the profile's [provision] pools made real, machine by machine.

Its targets are the planned machines: each pool's `count` names from its `names` pattern,
the profile's node where one of that name exists, else a node still to be made. Each goes
through access (the pool's key and the cluster's firewall, on the pool's first machine),
instance (created with tags and a client token: a retry or a resume never makes a second
one), running, ssh (the host key fetched and checked against the cloud's console output
where it keeps one, else recorded as first seen and journalled), and profile (the node
written into the profile, comments kept, saved atomically). A failed run resumes with
`fleetdeck run PROFILE provision --resume`: machines made are found by their tag.
"""

from __future__ import annotations

import contextlib
import time

from actions.engine import NodeContext
from actions.provision.azure import Azure
from actions.provision.clouds import Cloud, Clouds, Machine
from actions.provision.ec2 import Ec2
from actions.provision.gce import Gce
from actions.provision.hostkeys import vouched, wait_for_key
from actions.provision.sizes import gpus_of
from actions.types import Action, Change, Step, StepFailed, StepRefused
from console.core.profile.schema import Cluster, FleetProfile, Node, ProvisionPool
from console.core.secrets import REDACTOR
from console.core.transport.ssh import fingerprint, known_hosts_name, read_known_hosts

MAKERS: dict[str, type[Cloud]] = {"ec2": Ec2, "gce": Gce, "azure": Azure}
POOL_LABEL = "pool"
RUNNING_WAIT_S = 900.0
SSH_WAIT_S = 600.0
CONSOLE_WAIT_S = 300.0  # cloud-init prints the fingerprints a minute or two after boot
POLL_S = 3.0


def pools(model: FleetProfile) -> list[ProvisionPool]:
    return list(model.provision.pools) if model.provision else []


def pool_of(model: FleetProfile, node: str) -> ProvisionPool:
    for pool in pools(model):
        if any(pool.node_name(n) == node for n in range(1, pool.count + 1)):
            return pool
    raise StepFailed(f"{node} is not a machine of any [provision] pool")


def planned(model: FleetProfile) -> list[tuple[Cluster, Node]]:
    """Every pool's machines: the profile's node where it has one, else the one to make."""
    if not pools(model):
        raise StepFailed(
            f"{model.fleet.name} has no [[provision.pools]]: add one per cluster and role "
            "(profiles/gpu-pools.toml shows one per cloud)"
        )
    out = []
    for pool in pools(model):
        cluster = next(c for c in model.clusters if c.name == pool.cluster)
        gpus, gpu_type = gpus_of(pool.size, pool.gpus, pool.gpu_type)
        for n in range(1, pool.count + 1):
            name = pool.node_name(n)
            node = model.node(name) or Node.model_construct(
                name=name,
                host="",  # not made yet: nothing connects to it before its ssh step
                port=None,
                user=pool.ssh_user,
                role=pool.role,
                model=None,
                models=[],
                gpus=gpus,
                gpu_type=gpu_type,
                private_ip=None,
                public_url=None,
                labels={POOL_LABEL: pool.name, **pool.labels},
            )
            out.append((cluster, node))
    return out


def provision_action(makers: dict[str, type[Cloud]] | None = None) -> Action:
    clouds = Clouds(makers or MAKERS)

    def cloud(ctx: NodeContext) -> Cloud:
        return clouds.of(ctx.profile, pool_of(ctx.profile, ctx.name), ctx.engine.redactor)

    def machine(ctx: NodeContext) -> Machine:
        found = cloud(ctx).machine_of(ctx.name)
        if found is None:
            raise StepFailed(f"{ctx.name} has no machine (the instance step makes it)")
        return found

    def port(ctx: NodeContext) -> int:
        return ctx.node.port or ctx.profile.ssh.port

    # -- access: the pool's key pair and the cluster's firewall
    def first_of_pool(ctx: NodeContext) -> bool:
        return pool_of(ctx.profile, ctx.name).node_name(1) == ctx.name

    def access_check(ctx: NodeContext) -> Change | None:
        c = cloud(ctx)
        missing = c.access_missing()
        if not missing:
            return None
        return Change(f"key pair and firewall of pool {c.pool.name}", tuple(missing))

    def access_apply(ctx: NodeContext, change: Change) -> None:
        for line in cloud(ctx).ensure_access():
            ctx.on_line("stdout", line)

    # -- instance
    def instance_check(ctx: NodeContext) -> Change | None:
        c = cloud(ctx)
        if c.machine_of(ctx.name) is not None:
            return None
        again = c.launches(ctx.name)
        why = (
            f" (its earlier machine is terminated: a new one, launch {again + 1})" if again else ""
        )
        return Change(f"create {c.pool.size} {ctx.name}{why}", tuple(c.create_calls(ctx.name)))

    def instance_apply(ctx: NodeContext, change: Change) -> None:
        c = cloud(ctx)
        for line in c.access_ready():  # the pool's first machine may be behind this one
            ctx.on_line("stdout", line)
        made = c.create(ctx.name, c.token(ctx.name))
        ctx.facts["machine"] = made
        ctx.on_line("stdout", f"{made.id} {made.state} in {made.zone or c.pool.region}")

    def instance_verify(ctx: NodeContext) -> None:
        made = ctx.facts.get("machine")
        if made is None or cloud(ctx).refresh(made).gone:
            raise StepFailed(f"the cloud does not show {ctx.name}'s machine after creating it")

    # -- running
    def running_check(ctx: NodeContext) -> Change | None:
        m = machine(ctx)
        if m.state == "running" and m.public_ip:
            return None
        return Change(f"wait until {m.id} runs (now {m.state})")

    def running_apply(ctx: NodeContext, change: Change) -> None:
        c = cloud(ctx)
        m = machine(ctx)
        deadline = time.monotonic() + RUNNING_WAIT_S
        seen = ""
        while True:
            m = c.refresh(m)
            if m.state != seen:
                ctx.on_line("stdout", f"{m.id} {m.state}")
                seen = m.state
            if m.gone or m.state in ("stopped", "error"):
                raise StepFailed(f"{m.id} is {m.state}: the cloud stopped it while starting")
            if m.state == "running":
                break
            if time.monotonic() > deadline:
                raise StepFailed(f"{m.id} still {m.state} after {RUNNING_WAIT_S:.0f} s")
            time.sleep(POLL_S)
        if not m.public_ip:
            raise StepRefused(
                f"{m.id} runs without a public address: give the pool a subnet that assigns "
                "one (network = …), or reach it through [ssh].jump"
            )
        c.forget_listing()

    # -- ssh: the host key, checked where the cloud can vouch for it
    def known_key(ctx: NodeContext, host: str) -> bool:
        keys, _ = read_known_hosts(ctx.engine.pool.known_hosts)
        return keys.lookup(known_hosts_name(host, port(ctx))) is not None

    def ssh_check(ctx: NodeContext) -> Change | None:
        m = machine(ctx)
        if m.public_ip and known_key(ctx, m.public_ip):
            return None
        how = (
            "checked against its console output"
            if cloud(ctx).provider == "ec2"
            else f"recorded as first seen: {cloud(ctx).provider} publishes no host keys"
        )
        return Change(f"wait for SSH on {m.public_ip}:{port(ctx)}, record its host key ({how})")

    def ssh_apply(ctx: NodeContext, change: Change) -> None:
        c = cloud(ctx)
        m = machine(ctx)
        host = m.public_ip or ""
        try:
            key = wait_for_key(host, port(ctx), SSH_WAIT_S)
        except TimeoutError as exc:
            raise StepFailed(str(exc)) from None
        fp = fingerprint(key)
        ctx.on_line("stdout", f"SSH answers on {host}:{port(ctx)}: {key.get_name()} {fp}")
        listed = _vouched_keys(c, m)
        if listed is None:
            if c.provider == "ec2" and not ctx.engine.pool.accept_new(
                ctx.name, host, key.get_name(), fp
            ):
                raise StepRefused(
                    f"the console output of {m.id} lists no host key fingerprints after "
                    f"{CONSOLE_WAIT_S:.0f} s (this image's cloud-init may not print them): "
                    f"check {fp} yourself, then run again with --accept-new-host-keys"
                )
            ctx.on_line("stdout", f"host key {fp} recorded as first seen (nothing vouches for it)")
        elif fp not in listed:
            raise StepRefused(
                f"{host} offered host key {fp}, which the console output of {m.id} does not "
                f"list ({', '.join(sorted(listed))}): refused; something may be in between"
            )
        else:
            ctx.on_line("stdout", f"host key {fp} matches the console output of {m.id}")
        ctx.engine.pool.remember(known_hosts_name(host, port(ctx)), key)

    # -- profile
    def fields(ctx: NodeContext, m: Machine) -> dict:
        pool = pool_of(ctx.profile, ctx.name)
        gpus, gpu_type = gpus_of(pool.size, pool.gpus, pool.gpu_type)
        out: dict = {"name": ctx.name, "host": m.public_ip, "role": pool.role}
        if pool.ssh_user and pool.ssh_user != ctx.profile.ssh.user:
            out["user"] = pool.ssh_user
        if gpus is not None:
            out["gpus"] = gpus
        if gpu_type:
            out["gpu_type"] = gpu_type
        if m.private_ip:
            out["private_ip"] = m.private_ip
        labels = {POOL_LABEL: pool.name, **pool.labels, "instance": m.id}
        out["labels"] = labels | ({"zone": m.zone} if m.zone else {})
        return out

    def profile_check(ctx: NodeContext) -> Change | None:
        m = machine(ctx)
        node = ctx.engine.profile.model.node(ctx.name)
        if node is not None and node.host == m.public_ip:
            return None
        file = ctx.engine.profile.file
        if node is not None:
            return Change(f"set host of {ctx.name} to {m.public_ip} in {file}")
        lines = [f"{k} = {v!r}" for k, v in fields(ctx, m).items()]
        return Change(f"add {ctx.name} to {file}", diff="\n".join(["[[clusters.nodes]]", *lines]))

    def profile_apply(ctx: NodeContext, change: Change) -> None:
        m = machine(ctx)
        profile = ctx.engine.profile
        with ctx.engine.profile_lock:
            if profile.model.node(ctx.name) is not None:
                profile.set_node_field(ctx.name, "host", m.public_ip)
            else:  # in the pools' order, whichever machine came up first
                before = _next_in_profile(profile.model, ctx.cluster.name, ctx.name)
                profile.add_node(ctx.cluster.name, before=before, **fields(ctx, m))
            profile.save()
        ctx.on_line("stdout", f"{ctx.name} = {m.public_ip} written to {profile.file}")

    def notes(model: FleetProfile) -> list[str]:
        out = []
        for pool in pools(model):
            c = clouds.of(model, pool, REDACTOR)
            out += [f"pool {pool.name} ({pool.driver}): {gap}" for gap in c.gaps()]
            with contextlib.suppress(StepFailed):  # said by the plan's own steps
                out += [f"pool {pool.name}: {extra}" for extra in c.access_extra()]
        return out

    step = dict(local=True)
    will = "after the machine is made"
    return Action(
        name="provision",
        description="rent the [provision] pools' machines and write them into the profile",
        steps=(
            Step(
                "access",
                "Key pair and firewall",
                access_check,
                access_apply,
                when=first_of_pool,
                retries=1,
                **step,
            ),
            Step(
                "instance",
                "Create the machine",
                instance_check,
                instance_apply,
                verify=instance_verify,
                retries=1,
                **step,
            ),
            Step(
                "running",
                "Wait until it runs",
                running_check,
                running_apply,
                after=("instance",),
                foresee=lambda ctx, _: Change(f"wait until it runs ({will})"),
                timeout=RUNNING_WAIT_S,
                **step,
            ),
            Step(
                "ssh",
                "SSH up, host key recorded",
                ssh_check,
                ssh_apply,
                after=("instance", "running"),
                foresee=lambda ctx, _: Change(f"wait for SSH and record its host key ({will})"),
                timeout=SSH_WAIT_S + CONSOLE_WAIT_S,
                **step,
            ),
            Step(
                "profile",
                "Written into the profile",
                profile_check,
                profile_apply,
                after=("instance", "running", "ssh"),
                foresee=lambda ctx, _: Change(
                    f"add {ctx.name} to {ctx.engine.profile.file} ({will})"
                ),
                **step,
            ),
        ),
        targets=planned,
        notes=notes,
        destructive=True,  # it rents machines, by the hour: the fleet's name is typed first
    )


def _next_in_profile(model: FleetProfile, cluster: str, name: str) -> str | None:
    """The node already in the profile that the pools list after `name`, if any."""
    order = [n.name for c, n in planned(model) if c.name == cluster]
    have = {n.name for c, n in model.all_nodes() if c.name == cluster}
    return next((n for n in order[order.index(name) + 1 :] if n in have), None)


def _vouched_keys(cloud: Cloud, machine: Machine) -> set[str] | None:
    """The fingerprints the cloud's console output lists, waiting for cloud-init to print
    them; None where the cloud keeps no console output or it never lists any."""
    deadline = time.monotonic() + CONSOLE_WAIT_S
    while True:
        console = cloud.console_output(machine)
        if console is None:
            return None
        listed = vouched(console)
        if listed is not None or time.monotonic() > deadline:
            return listed
        time.sleep(POLL_S * 2)
