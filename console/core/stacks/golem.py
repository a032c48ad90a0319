"""The Golem stack, as the core sees it: providers renting their machine on the Golem
network (yagna, golemsp and ya-provider on the host, run by systemd as their own user), its
settings, alert rules and runbook words (reference/golem-provider.md). A provider whose node
names a model also serves it through an Ollama on the same host (the seed's own runner calls
a host Ollama): the stack builds on Ollama's settings. Its deploy is actions/stacks/golem.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field

from console.core.monitor.findings import Finding
from console.core.monitor.runbooks import Runbook
from console.core.schema import ScriptUrl, Strict
from console.core.stacks.base import Stack
from console.core.stacks.golem_status import Golem, reading, view
from console.core.stacks.ollama import GENERATE

if TYPE_CHECKING:
    from console.core.profile.schema import AlertsSection, Cluster, FleetProfile
    from console.core.state import NodeStatus

VERSION = r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"


def _address(value: str) -> str:
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise ValueError(f"{value!r} is not a payment address (0x and 40 hex digits)")
    return value


class GolemPreset(Strict):
    """A runtime's prices, in GLM. Its preset is named after the runtime: a runtime
    without a preset of its own name makes `golemsp run` reset every price to 0.025/h."""

    cpu_per_hour: Annotated[float, Field(ge=0)] = 0.025
    env_per_hour: Annotated[float, Field(ge=0)] = 0.005
    start_fee: Annotated[float, Field(ge=0)] = 0.0


def _presets(value: dict[str, GolemPreset]) -> dict[str, GolemPreset]:
    for name in value:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
            raise ValueError(f"{name!r} is not a runtime name (vm, wasmtime, vm-nvidia)")
    return value


class GolemSettings(Strict):
    # the installer's three pinned bundles (YA_INSTALLER_CORE / _VM / _WASI)
    golem_version: Annotated[str, Field(pattern=VERSION)] = "0.17.6"
    golem_vm_version: Annotated[str, Field(pattern=VERSION)] = "0.4.2"
    golem_wasi_version: Annotated[str, Field(pattern=VERSION)] = "0.2.2"
    golem_install_url: ScriptUrl = "https://join.golem.network/as-provider"
    # the installer asks to accept Golem's terms: only the operator may say yes
    golem_accept_terms: bool = False
    golem_user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "golem"
    golem_subnet: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = "public"
    golem_payment_network: Literal["mainnet", "testnet"] = "mainnet"
    golem_account: Annotated[str, AfterValidator(_address)] | None = None  # payments go here
    # shared with requestors (ya-provider's default profile); None: ya-provider's own
    golem_cores: Annotated[int, Field(ge=1, le=4096)] | None = None
    golem_memory_gib: Annotated[float, Field(gt=0)] | None = None
    golem_disk_gib: Annotated[float, Field(gt=0)] | None = None
    golem_presets: Annotated[dict[str, GolemPreset], AfterValidator(_presets)] = {
        "vm": GolemPreset(),
        "wasmtime": GolemPreset(),
    }
    golem_consent_stats: Literal["allow", "deny"] = "deny"


def golem_findings(node: NodeStatus, limits: AlertsSection, now: float) -> Iterator[Finding]:
    """A provider's alerts, in Golem's words, each with its next step."""
    g = node.provider if isinstance(node.provider, Golem) else None
    if g is None:
        if node.provider_error:
            yield Finding(
                "golem_unreadable",
                "warning",
                "Golem provider status unreadable",
                node.provider_error,
                "run `golemsp status` as the provider's user: yagna may be starting, or its "
                "data directory unreadable by this user",
            )
        return
    if not g.running:
        yield Finding(
            "golem_down",
            "critical",
            "Golem provider not running",
            f"golemsp: service {g.service or 'not running'}",
            "systemctl status golemsp, journalctl -u golemsp; start it (systemctl start "
            "golemsp): a provider that is down takes no tasks and earns nothing",
        )
        return
    if g.offers == 0:
        yield Finding(
            "golem_no_offers",
            "critical",
            "no offers subscribed",
            "golemsp: Provider is not functioning properly. No offers Subscribed."
            + (f" Active presets: {', '.join(g.presets)}" if g.presets else " No preset active"),
            "ya-provider --json preset active, and `Subscribed offer` in "
            "~/.local/share/ya-provider/ya-provider_rCURRENT.log; activate the presets "
            "(fleetdeck run … deploy) and fix the runtime whose test fails",
        )
    if g.vm and g.vm != "valid":
        yield Finding(
            "golem_vm",
            "warning",
            "VM runtime invalid",
            f"golemsp: VM {g.vm}",
            "tasks that need a VM are refused: /dev/kvm must exist and be writable by the "
            "provider's user (ls -l /dev/kvm; the kvm group, Golem's setup-kvm.sh)",
        )
    if g.health and g.health.startswith("relay"):
        yield Finding(
            "golem_relay",
            "critical",
            "relay not connected",
            g.health,
            "yagna --json net status (sessions); allow DNS and UDP out to the relay, or set "
            "YA_NET_RELAY_HOST; open UDP 11500 if you can",
        )
    elif g.health and not (g.driver_issues and g.health.startswith("payment")):
        yield Finding(
            "golem_health",
            "warning",
            "yagna health check fails",
            g.health,
            "curl /healthcheck on the node with the app-key; yagna_rCURRENT.log",
        )
    if g.driver_issues:
        yield Finding(
            "golem_payment",
            "warning",
            "payment driver failing",
            "; ".join(g.driver_issues),
            "yagna payment driver status, yagna payment status; set POLYGON_GETH_ADDR to "
            "working RPC endpoints, or `yagna id unlock` a locked identity",
        )


class GolemStack(Stack):
    def deploy_gaps(self, profile: FleetProfile, cluster: Cluster) -> list[str]:
        return []  # a provider offers its machine; a model is optional (a host Ollama)

    def serves_models(self, role: str) -> bool:
        return False  # only where the node names one (through the Ollama it fronts)


GOLEM = GolemStack(
    name="golem",
    settings=GolemSettings,
    key_prefix="golem_",
    builds_on=("ollama",),
    roles=("provider",),
    # yagna's REST and GSB, and Ollama's API beside it, stay on the host's loopback
    private_ports=(7464, 7465, 11434),
    description="Golem network providers (yagna/golemsp), optionally fronting a host Ollama",
    containers=(("provider", ()),),  # everything runs on the host, under systemd
    inference=GENERATE,  # a provider that serves a model serves it through Ollama
    rules=golem_findings,
    probe_part=Path(__file__).with_name("golem_probe.py"),
    probe_key="golem",
    read_probe=reading,
    provider_view=view,
    drain="deactivate its presets (ya-provider preset deactivate …) and let tasks end",
    runbooks={
        "golem_down": Runbook(
            "Golem provider not running",
            "golemsp's service is not running: the provider is offline to the Golem "
            "network, takes no tasks and earns nothing.",
            ("systemctl status golemsp", "journalctl -u golemsp -n 50", "golemsp status"),
            ("systemctl start golemsp",),
        ),
        "golem_no_offers": Runbook(
            "No offers subscribed",
            "yagna runs but publishes no offer: no preset active, a runtime failed its test, "
            "or offer creation failed. Requestors cannot find this provider.",
            (
                "ya-provider --json preset active",
                "ya-provider --json exe-unit list (every runtime's descriptor there)",
                "grep 'Subscribed offer' ~/.local/share/ya-provider/ya-provider_rCURRENT.log",
            ),
            ("re-run the deploy: it writes and activates each runtime's preset",),
        ),
        "golem_vm": Runbook(
            "VM runtime invalid",
            "golemsp's VM check fails (no KVM, no access to /dev/kvm, a Xen or Docker guest): "
            "tasks that need the VM runtime are refused.",
            ("ls -l /dev/kvm", "id golem (the kvm group)", "golemsp status: VM problem"),
            ("Golem's setup-kvm.sh (udev rule, kvm group, ACL), then restart golemsp",),
        ),
        "golem_relay": Runbook(
            "Relay not connected",
            "yagna cannot reach the Golem relay: no market broadcasts, no tasks.",
            ("yagna --json net status", "DNS and UDP egress from the host"),
            ("set YA_NET_RELAY_HOST=host:port in the unit's environment, restart golemsp",),
        ),
        "golem_payment": Runbook(
            "Payment driver failing",
            "yagna's payment driver reports problems: payments for finished tasks may not "
            "be received or confirmed.",
            ("yagna payment driver status", "yagna payment status --network polygon"),
            ("POLYGON_GETH_ADDR with working RPC endpoints; `yagna id unlock`",),
        ),
        "golem_health": Runbook(
            "yagna health check fails",
            "yagna's /healthcheck answers an error.",
            ("~/.local/share/yagna/yagna_rCURRENT.log",),
        ),
        "golem_unreadable": Runbook(
            "Golem provider status unreadable",
            "golemsp is installed, but its status could not be read.",
            ("golemsp status as the provider's user",),
        ),
        "disk_full": Runbook(
            "Disk nearly full",
            "A provider's exe-unit work directories, images and logs fill its disk: "
            "activities fail with `insufficient hardware resources available`.",
            ("du -sh ~golem/.local/share/ya-provider/exe-unit", "df -h"),
            ("ya-provider clean 7d as the provider's user", "lower disk_gib in the profile"),
        ),
    },
)
