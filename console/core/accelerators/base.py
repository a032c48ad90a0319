"""What an accelerator vendor's adapter says: how the node probe reads its devices (a
probe part), the words its alerts speak, its own alert rules and runbooks, its Prometheus
exporter's series (ExporterSeries), its Kubernetes resource and health label, what a
deploy needs of its devices (DeviceDeploy), the machine sizes that carry them. One
instance per vendor in console/core/accelerators/; the generic code asks these, and names
no vendor's tool or words itself (tests/unit/test_vendor_words.py holds it to that)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from console.core.monitor.runbooks import Runbook

if TYPE_CHECKING:  # the profile's schema asks the stacks, which ask these adapters
    from console.core.monitor.findings import Finding
    from console.core.profile.schema import AlertsSection
    from console.core.state import Gpu, NodeStatus

    # (node, its devices of this vendor, its events of this vendor: (t, device, code),
    # limits, how the node's stack takes it out of service) -> findings
    Rules = Callable[
        [
            NodeStatus,
            tuple[Gpu, ...],
            tuple[tuple[float, int | None, int], ...],
            AlertsSection,
            str,
        ],
        Iterable[Finding],
    ]


@dataclass(frozen=True)
class ExporterSeries:
    """A vendor's Prometheus exporter, as a [[sources]] prometheus reads it: which series
    carry which reading, and the labels that name the node and the device."""

    name: str  # as a device's source says it (its project's name)
    port: int  # where it serves by default (never opened to the world)
    # series every exporter of this kind serves for each device, any one of them (a
    # prefixed or an older name): its scrape time is the node's
    seen: tuple[str, ...]
    # series -> (the probe's key, the factor to its unit); several names may give one key
    fields: dict[str, tuple[str, float]]
    node_label: str  # the label that names the host, where the source names none
    device_label: str = ""  # the label with the device's index; "" where none has it
    info_labels: dict[str, str] = field(default_factory=dict)  # probe key -> label
    driver_label: str = ""
    last_event: str = ""  # a gauge of the last event code a device raised
    sane: dict[str, float] = field(default_factory=dict)  # probe key -> the most it can be
    # probe key -> label matchers its series are read with (`severity="fatal"`)
    matchers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceDeploy:
    """What a deploy needs of a vendor's devices on a node: which there are (its tool's
    list: index and memory), the container runtime or device access a container needs and
    how to get it, and how a compose service is given some of them."""

    inventory: str  # lists them (where the adapter's `tool` is there)
    parse: Callable[[str], list[tuple[str, float]]]  # its output -> [(index, memory MiB)]
    missing: str  # what to do where the tool is missing
    # the docker runtime its containers need ("" where plain device files do), what gives it,
    # and the commands that install and register it ("{sudo}" for the node's sudo); none
    # where the operator must do it by hand (then `runtime_by_hand` says how)
    runtime: str = ""
    runtime_words: str = ""
    runtime_fix: tuple[str, ...] = ()
    runtime_by_hand: str = ""
    # a compose service's lines (under the service, four spaces in) that give it `ids`
    compose: Callable[[list[str]], list[str]] = lambda ids: []
    # a command listing its devices' health, which of them are faulty by its output, and
    # the command that resets one ("{sudo}", "{index}"); none where the vendor has no such
    health_query: str = ""
    faulty: Callable[[str], list[str]] = lambda out: []
    reset: str = ""
    # run in a container given some: prints how many of them it sees
    count_in_container: str = ""
    # the software platform servers are built for to run on these devices ("cuda", "rocm",
    # "habana"): a stack picks its image by it
    platform: str = ""


@dataclass(frozen=True)
class Accelerator:
    name: str  # the vendor key each device's reading carries
    label: str  # the vendor's name as a person says it
    short: str  # its devices' kind in a word, where kinds are counted side by side
    noun: str  # one device, as its owner calls it ("GPU", "HPU")
    # the node-side reader: a file the probe script takes in (console/core/probe.py's
    # DEVICES), stdlib only, old syntax, every name of it under its vendor's prefix
    probe_part: Path
    tool: str  # the command an operator reads its devices with, on the node
    # the words its readers' errors use (a tool, a library): an error that names one is
    # this vendor's to fix
    tools: tuple[str, ...]
    # where a reading of it is wrong or missing: what to check (alert next steps)
    unreadable_fix: str
    missing_fix: str
    memory_check: str  # how to see what holds a device's memory (a crash loop's check)
    rules: Rules
    # its commands that change a node (a runtime's configuration): a read-only check
    # (actions/engine.py) refuses them
    tools_that_change: tuple[str, ...] = ()
    # programs of which one is on the node's PATH wherever its devices are: its probe part
    # is compiled only there (empty: on every node, as a library needs no program)
    probe_needs: tuple[str, ...] = ()
    runbooks: dict[str, Runbook] = field(default_factory=dict)
    # its events' name, for the node screen ("" where it has none)
    event_word: str = ""
    # its devices' model names, short: the vendor's prefix left off ("H100 80GB HBM3"), or
    # the product a part number is ("HL-325L" is a Gaudi 3)
    model_prefix: str = ""
    products: dict[str, str] = field(default_factory=dict)
    # a probe line from before the accelerator seam (an old recording): its events' key
    # and code field there; the one adapter that wrote such lines says so
    legacy_events: tuple[str, str] | None = None

    exporter: ExporterSeries | None = None  # its Prometheus exporter, where it has one
    deploy: DeviceDeploy | None = None  # what a deploy needs of its devices
    # Kubernetes: the extended resource its device plugin offers, the node labels that
    # name its model, the node label its health check sets per device (with "{n}" for the
    # device, and the value that says unhealthy), and what to check when it holds some back
    kube_resource: str = ""
    kube_model_labels: tuple[str, ...] = ()
    kube_unhealthy_label: tuple[str, str] = ("", "")
    kube_plugin_check: str = ""
    # the cloud machine sizes that carry its devices: size -> (count, gpu_type), and GCE's
    # accelerator type per gpu_type (for a pool whose size carries none)
    sizes: dict[str, tuple[int, str]] = field(default_factory=dict)
    gce_accelerators: dict[str, str] = field(default_factory=dict)
    # a device's state beside its readings, in its vendor's words: (words, alarming)
    device_state: Callable[[Gpu], tuple[str, bool]] = lambda g: ("—", False)

    def short_model(self, name: str | None) -> str | None:
        if not name:
            return name
        if name in self.products:  # the part number stays in status --json
            return self.products[name]
        return name.removeprefix(self.model_prefix) if self.model_prefix else name
