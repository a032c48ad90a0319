"""Alert rules: from a node's status (and the profile's thresholds) to named problems,
each with its severity, evidence and the next step an operator should take."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from console.core import accelerators
from console.core.accelerators import ACCELERATORS
from console.core.accelerators.words import clock
from console.core.monitor.findings import Finding
from console.core.profile.schema import AlertsSection
from console.core.stacks import STACKS
from console.core.state import NodeStatus
from console.core.times import rfc3339_seconds

SLOW_LINK_S = 0.4  # lines arriving this much later than the node's usual: a slow link


def evaluate(
    node: NodeStatus,
    limits: AlertsSection,
    now: float,
    interval: float,
    serves_model: bool = False,
    console_late: bool = False,
) -> list[Finding]:
    """The findings for one node. `console_late`: fleetdeck's own process was starved, so
    a node whose lines are merely late is judged on its last values, not called down."""
    if node.host_key_changed:
        return [
            Finding(
                "host_key_changed",
                "critical",
                "host key changed: connection refused",
                node.error or "",
                "verify the host's key out of band; if it was "
                "reinstalled, remove its old line from fleetdeck's known_hosts",
            )
        ]
    if node.seen_at is None and not node.error:
        return []  # connecting: nothing is known yet, so nothing is wrong yet
    if not node.reachable or (node.stale(now, interval) and not console_late):
        age = node.age(now)
        seen = f"last values {age:.0f} s old" if age is not None else "never answered"
        return [
            Finding(
                "unreachable",
                "critical",
                "node reported down" if node.reported_down else "node unreachable",
                f"{node.error or 'no probe data'}; {seen}",
                "check the host (cloud console, power, network); fleetdeck keeps "
                "trying with backoff",
            )
        ]
    out = list(_rules(node, limits, now, serves_model, interval))
    if node.error:  # one source cannot read it while another does (SSH down, Prometheus up)
        out.append(
            Finding(
                "source_cannot_read",
                "warning",
                "one of its sources cannot read it",
                node.error,
                "its values come from its other sources meanwhile (the node screen says "
                "which); check the failing one (SSH: the host's sshd and network path)",
            )
        )
    return out


def _rules(
    node: NodeStatus, limits: AlertsSection, now: float, serves_model: bool, interval: float
) -> Iterator[Finding]:
    yield from _gpus(node, limits)
    if node.reads("containers"):  # a source without them (Prometheus) says nothing of them
        yield from _containers(node, serves_model, interval)
    slow = node.link_delay_s
    if slow is not None and slow >= max(SLOW_LINK_S, interval / 4):
        yield Finding(
            "slow_link",
            "warning",
            "slow link",
            f"probe lines arrive {slow:.1f} s later than usual",
            "the host answers, slowly: check the network path (mtr to the host) and the "
            "host's load; fleetdeck's values are that much older",
        )
    info = STACKS.get(node.stack)
    if info is not None and info.rules is not None:  # the stack's own (a chain's, say)
        yield from info.rules(node, limits, now)
    yield from _services(node, limits)
    yield from _kube(node)
    for disk in node.system.disks:
        if disk.used_pct is None or disk.total_gb is None:
            continue
        free_pct = 100 - disk.used_pct
        if free_pct < limits.disk_free_pct:
            own = info.runbooks.get("disk_full") if info is not None else None  # its words
            yield Finding(
                f"disk_full:{disk.path}",
                "critical" if free_pct < limits.disk_free_pct / 2 else "warning",
                f"disk nearly full at {disk.path}",
                f"{disk.used_pct:.1f}% used, {disk.free_gb} GB free",
                "free space: " + "; ".join(own.actions)
                if own is not None and own.actions
                else "free space: prune docker images (docker system prune), remove old "
                "model snapshots from HF_HOME, or grow the volume",
            )


def _gpus(node: NodeStatus, limits: AlertsSection) -> Iterator[Finding]:
    """The node's devices: unreadable or fewer than the profile says, in the words of the
    vendors it has; then each vendor's own rules on its devices and events."""
    present = list(dict.fromkeys(accelerators.of(g.vendor).name for g in node.gpus))
    if node.gpu_error and not node.gpus and node.expected_gpus:
        named = [a for a in ACCELERATORS.values() if any(t in node.gpu_error for t in a.tools)]
        yield Finding(
            "gpu_unreadable",
            "critical",
            f"{_noun(named)}s cannot be read",
            node.gpu_error,
            "; or ".join(a.unreadable_fix for a in named or ACCELERATORS.values()),
        )
    listed = len(node.gpus)
    if node.expected_gpus is not None and listed < node.expected_gpus:
        vendors = [accelerators.of(v) for v in present]
        visible = sum(not g.lost for g in node.gpus)
        noun = _noun(vendors)
        yield Finding(
            "gpu_missing",
            "critical",
            f"{visible} of {node.expected_gpus} {noun}s visible",
            f"the profile expects {node.expected_gpus}; {node.expected_gpus - listed} not listed"
            " by the driver at all",
            "; ".join(a.missing_fix for a in vendors)
            or "the vendor's tool on the node; reboot, then check the PCIe link and power "
            "of the missing card",
        )
    drain = _drain(node)
    for vendor in present:
        mine = tuple(g for g in node.gpus if accelerators.of(g.vendor).name == vendor)
        events = tuple((t, gpu, code) for t, gpu, code, v in node.events if v == vendor)
        yield from accelerators.of(vendor).rules(node, mine, events, limits, drain)
    for vendor in dict.fromkeys(v for *_, v in node.events if v not in present):
        events = tuple((t, gpu, code) for t, gpu, code, v in node.events if v == vendor)
        yield from accelerators.of(vendor).rules(node, (), events, limits, drain)


def _tools(node: NodeStatus) -> str:
    """The command(s) that read the node's devices, in their vendors' words."""
    tools = dict.fromkeys(accelerators.of(g.vendor).tool for g in node.gpus)
    return " / ".join(tools) or "the GPU vendor's tool"


def _noun(vendors: list) -> str:
    """What the node's devices are called: their one vendor's word, else "GPU"."""
    nouns = {a.noun for a in vendors}
    return nouns.pop() if len(nouns) == 1 else "GPU"


def _drain(node: NodeStatus) -> str:
    """How a node of its stack is taken out of service, in the stack's words."""
    info = STACKS.get(node.stack)
    return info.drain if info is not None and info.drain else "take it out of service"


def _just_started(c, node: NodeStatus, interval: float) -> bool:
    """Started since the refresh before this one, by the node's own clock: a fixed loop
    reads fine again by the second refresh after its last restart."""
    started = rfc3339_seconds(c.started_at)
    now = node.probe_at
    return started is not None and now is not None and now - started < interval


def _pods(node: NodeStatus) -> Iterator[Finding]:
    """A node's pods' containers (a Kubernetes source): no compose names to expect, each
    judged by its state."""
    for c in node.containers:
        pod = c.name.split("/")[0]
        if c.state == "restarting":
            yield Finding(
                f"container_restarting:{c.name}",
                "critical",
                f"container {c.name} is restarting (CrashLoopBackOff)",
                f"{c.restarts} restarts"
                + (f", last exit code {c.exit_code}" if c.exit_code else ""),
                f"kubectl logs --previous {pod} -c {c.name.split('/')[-1]}; a crash loop after "
                "a model change usually means not enough GPU memory",
            )
        elif c.state == "exited":
            yield Finding(
                f"container_exited:{c.name}",
                "critical",
                f"container {c.name} exited",
                f"exit code {c.exit_code}",
                f"kubectl describe pod {pod}",
            )
        elif c.state != "running":
            yield Finding(
                f"container_waiting:{c.name}",
                "warning",
                f"container {c.name} is {c.state}",
                "the pod's container has not started",
                f"kubectl describe pod {pod} (its events say why)",
            )
        elif c.health == "unhealthy":
            yield Finding(
                f"container_unhealthy:{c.name}",
                "warning",
                f"container {c.name} is not ready",
                "its readiness probe fails",
                f"kubectl describe pod {pod}",
            )


def _containers(node: NodeStatus, serves_model: bool, interval: float) -> Iterator[Finding]:
    info = STACKS.get(node.stack)
    if info is None:
        return
    if node.pods:
        yield from _pods(node)
        return
    if node.container_error and not node.containers:
        yield Finding(
            "containers_unreadable",
            "warning",
            "containers cannot be read",
            node.container_error,
            "check docker on the node (systemctl status docker)",
        )
        return
    by_name = {c.name: c for c in node.containers}
    expected = info.expected_containers(node.role, serves_model)
    if expected and not node.containers:
        # a bare host (no container at all) is not deployed yet, not N failures
        yield Finding(
            "not_deployed",
            "info",
            "not deployed yet",
            f"none of {', '.join(expected)} exists",
            f"deploy it: fleetdeck run PROFILE deploy --limit {node.name}",
        )
        return
    optional = [n for n in info.known_containers(node.role, serves_model) if n not in expected]
    for name in expected + [n for n in optional if n in by_name]:
        c = by_name.get(name)
        if c is None:
            yield Finding(
                f"container_missing:{name}",
                "critical",
                f"container {name} is missing",
                "not in docker ps -a",
                f"run the deploy again for this node (fleetdeck run … deploy --limit {node.name})",
            )
        elif c.state == "restarting" or (c.restarts and _just_started(c, node, interval)):
            # Docker's restart count never resets: what says a loop goes on is restarting
            # now, or having come back since the last refresh; a fixed loop clears in two
            started = rfc3339_seconds(c.started_at)
            last = f", the last at {clock(started)}" if started else ""
            yield Finding(
                f"container_restarting:{name}",
                "critical",
                f"container {name} is restarting",
                f"{c.restarts} restarts{last}",
                f"read its logs (docker logs --tail 100 {name}); a crash loop after "
                "a model change usually means not enough GPU memory",
            )
        elif c.state != "running":
            yield Finding(
                f"container_exited:{name}",
                "critical",
                f"container {name} is {c.state}",
                f"exit code {c.exit_code}",
                f"read its logs, then start it (docker start {name})",
            )
        elif c.health == "unhealthy":
            yield Finding(
                f"container_unhealthy:{name}",
                "warning",
                f"container {name} is unhealthy",
                "its health check fails",
                f"docker inspect {name} shows the failing check; restart it if it does not recover",
            )

    for c in node.containers:
        wide = info.exposed(c.published) if c.state == "running" else []
        if wide:
            ports = ", ".join(sorted({str(h) for _, _, h in wide}, key=int))
            yield Finding(
                f"port_public:{c.name}",
                "warning",
                f"{c.name} publishes private port {ports} to the world",
                "; ".join(f"{ip or '0.0.0.0'}:{h}->{p}/tcp" for p, ip, h in wide)  # noqa: S104
                + " (docker's rules come before ufw's)",
                "bind it to the loopback or the private address: fleetdeck's deploy does "
                f"(fleetdeck run PROFILE deploy --limit {node.name}); by hand, a compose "
                "override with ports: !override",
            )


def _services(node: NodeStatus, limits: AlertsSection) -> Iterator[Finding]:
    for s in node.services:
        if s.kind == "placement":
            if not s.ok:
                yield Finding(
                    f"gpu_fallback:{s.name}",
                    "critical",
                    "a model runs on the CPU",
                    s.detail,
                    "the GPU is missing, or the model does not fit its memory: "
                    f"{_tools(node)} on the node, the model server's log (CUDA errors, layers "
                    "offloaded); a model too big for this VRAM tier needs a smaller one",
                )
            continue
        if not s.ok:
            yield Finding(
                f"service_down:{s.name}",
                "critical",
                f"{s.name} is down",
                s.detail or f"HTTP {s.status}",
                "check the serving container's logs "
                "and GPU memory; restart it if it does not recover",
            )
        elif s.latency_ms is not None and s.latency_ms > limits.inference_p95_s * 1000:
            yield Finding(
                f"service_slow:{s.name}",
                "warning",
                f"{s.name} over its latency objective",
                f"{s.latency_ms:.0f} ms > {limits.inference_p95_s:.1f} s",
                "check the server's queue of waiting requests and GPU load (the runbook card "
                "says where)",
            )


def _kube(node: NodeStatus) -> Iterator[Finding]:
    """What the node's Kubernetes API says of it: NotReady, cordoned, GPUs it no longer
    offers to pods."""
    kube = node.kube
    if kube is None:
        return
    if kube.ready is False:
        yield Finding(
            "kube_not_ready",
            "critical",
            "Kubernetes: node NotReady",
            kube.not_ready_why or "its Ready condition is not True",
            "kubectl describe node NAME (its conditions and the kubelet's events); "
            "a node that stays NotReady is drained and replaced by its pool",
        )
    vendor = accelerators.of(kube.vendor)
    if kube.gpus_allocatable < kube.gpus_capacity:
        yield Finding(
            "kube_gpus_unallocatable",
            "warning",
            f"Kubernetes offers {kube.gpus_allocatable} of {kube.gpus_capacity} {vendor.noun}s",
            f"allocatable {vendor.kube_resource} below capacity: the device plugin holds some "
            f"back (an unhealthy {vendor.noun})",
            vendor.kube_plugin_check,
        )
    if kube.unhealthy:
        yield Finding(
            "kube_device_unhealthy",
            "critical",
            f"{vendor.label} {vendor.noun} {','.join(map(str, kube.unhealthy))} unhealthy",
            "the node's label from the vendor's health check: "
            + ", ".join(vendor.kube_unhealthy_label[0].format(n=n) for n in kube.unhealthy)
            + f"={vendor.kube_unhealthy_label[1]}",
            f"drain the node ({_drain(node)}); {vendor.kube_plugin_check}",
        )
    if kube.cordoned:
        yield Finding(
            "kube_cordoned",
            "info",
            "cordoned: no new pods are scheduled here",
            f"pool {kube.pool}: spec.unschedulable",
            "kubectl uncordon NAME once it is fixed",
        )


def behind_peers(
    nodes: dict[str, NodeStatus], limits: AlertsSection
) -> Iterator[tuple[str, Finding]]:
    """(node, finding) for each chain node more than `chain_lag_blocks` behind the fleet's
    highest one (all on one chain): it follows, but late; what it must sign in time may miss."""
    heights = {
        n: s.chain.height
        for n, s in nodes.items()
        if s.chain and s.chain.height and not s.chain.catching_up
    }
    if len(heights) < 2:
        return
    top_node = max(heights, key=lambda n: heights[n])
    for name, height in heights.items():
        behind = heights[top_node] - height
        if behind > limits.chain_lag_blocks:
            yield (
                name,
                Finding(
                    "chain_behind",
                    "warning",
                    f"chain node {behind} blocks behind",
                    f"height {height}; {top_node} is at {heights[top_node]} "
                    f"(more than [alerts].chain_lag_blocks = {limits.chain_lag_blocks})",
                    "check its peers and disk I/O; if it falls further behind, restart the node "
                    "container or state-sync it",
                ),
            )


def compare_with_peers(alerts: list, nodes: dict[str, NodeStatus]) -> list:
    """A stalled chain's evidence compared with the fleet's other chain nodes: one still
    advancing means this node is stuck; all at the same height means the chain halted."""
    heights = {n: s.chain.height for n, s in nodes.items() if s.chain and s.chain.height}
    out = []
    for a in alerts:
        if a.kind == "chain_stalled" and len(heights) > 1:
            mine = heights.get(a.node)
            others = {n: h for n, h in heights.items() if n != a.node}
            top_node = max(others, key=lambda n: others[n])
            top = others[top_node]
            if mine is not None and top > mine:
                note = f"; {top_node} is at {top} ({top - mine} ahead): this node is stuck"
            else:
                note = "; every other chain node is at or below it: the chain itself may be halted"
            a = replace(a, evidence=a.evidence + note)
        out.append(a)
    return out
