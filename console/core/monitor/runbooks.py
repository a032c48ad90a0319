"""What each alert kind means, what to check, and the actions at hand: the words that hold
on every stack and vendor. A stack's own kinds (a chain's) and its own reading of shared
ones are in its adapter (console/core/stacks/), which the runbook card asks first; a device
vendor's kinds in its adapter (console/core/accelerators/), asked next."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runbook:
    title: str
    meaning: str
    checks: tuple[str, ...]
    actions: tuple[str, ...] = ()


RUNBOOKS: dict[str, Runbook] = {
    "unreachable": Runbook(
        "Node unreachable",
        "fleetdeck cannot reach the node over SSH, or its probe went silent. Its last "
        "values stay on screen, marked stale. Requests routed to it fail too.",
        (
            "Is the machine up (cloud console, IPMI)?",
            "Is port 22 reachable from here?",
            "A hung host accepts TCP and never answers: look for kernel panics or OOM.",
        ),
        ("take it out of service (the stack's own way) until it answers again",),
    ),
    "host_key_changed": Runbook(
        "Host key changed",
        "The host presented a different SSH key than the one recorded. It may have been "
        "reinstalled, or someone may be intercepting the connection. fleetdeck refuses it.",
        (
            "Compare the new fingerprint with the host's console output "
            "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).",
        ),
        ("remove the old line from fleetdeck's known_hosts once verified",),
    ),
    "gpu_missing": Runbook(
        "Fewer devices than expected",
        "The node shows fewer accelerators than the profile says it has: the driver "
        "does not list them all.",
        (
            "the vendor's tool on the node lists what its driver sees",
            "the kernel log for the missing card's errors",
        ),
    ),
    "gpu_unreadable": Runbook(
        "Devices cannot be read",
        "The node's accelerators do not answer their vendor's tool: its driver is not "
        "loaded, or the tool is missing.",
        ("the vendor's tool on the node", "the kernel log for the driver's errors"),
    ),
    "container_missing": Runbook(
        "Container missing",
        "An expected container of the stack does not exist on the node.",
        ("docker ps -a on the node",),
        ("run the deploy again for this node",),
    ),
    "container_exited": Runbook(
        "Container exited",
        "A container of the stack stopped.",
        ("docker logs --tail 100 <name>",),
        ("start it again: docker start <name>",),
    ),
    "container_restarting": Runbook(
        "Container restarting",
        "The container crashes and restarts. For a model server this often means the "
        "model does not fit in GPU memory, or a bad model argument.",
        ("docker logs --tail 100 <name>", "memory held by old processes (the GPU vendor's tool)"),
        ("open logs", "restart the container"),
    ),
    "container_unhealthy": Runbook(
        "Container unhealthy",
        "The container runs but fails its health check.",
        ("docker inspect <name> (State.Health.Log)",),
        ("restart the container",),
    ),
    "service_down": Runbook(
        "Inference down",
        "The inference endpoint does not answer or answers an error.",
        ("the serving container's logs", "GPU memory"),
        ("restart the serving container",),
    ),
    "service_slow": Runbook(
        "Inference over its latency objective",
        "Requests take longer than the objective (p95 < 2 s by default).",
        ("the server's queue of waiting requests", "GPU utilization"),
    ),
    "port_public": Runbook(
        "Private port open to the world",
        "A container publishes a port that must stay private (an operator's API, a model "
        "server's management or inference port, a callback port) on every interface. Docker writes "
        "its own iptables rules, which come before ufw's: the host's firewall does not "
        "protect it, and anyone who finds it can load or drive the node.",
        (
            "docker ps --format '{{.Names}} {{.Ports}}' on the node: 0.0.0.0:PORT is public",
            "the compose files that publish it (an override with ports: !override rebinds it)",
        ),
        ("bind it to 127.0.0.1 and the private address, then recreate the container",),
    ),
    "disk_full": Runbook(
        "Disk nearly full",
        "The deploy directory or the model cache is running out of space; "
        "downloads and the chain database will fail.",
        ("du -sh HF_HOME/*", "docker system df"),
        ("docker system prune", "remove unused model snapshots"),
    ),
}
