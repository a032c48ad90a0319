"""Intel Gaudi cards (HPUs): read by hl-smi and the habanalabs driver's sysfs status
(gaudi_probe.py), alerted in Intel's words: a card the driver calls disabled or needing a
reset, NIC ports down, too hot by Intel's own health screen (83 °C is critical), memory
rows waiting for replacement, uncorrectable ECC, power far above the card's cap (a failing
card reads so; 1900 W on a 600 W cap was seen), with Habana's tools in every next step
(reference/accelerators.md §1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from console.core.accelerators.base import Accelerator, DeviceDeploy, ExporterSeries
from console.core.accelerators.words import device_list
from console.core.monitor.findings import Finding
from console.core.monitor.runbooks import Runbook

if TYPE_CHECKING:  # the profile's schema asks the stacks, which ask these adapters
    from console.core.profile.schema import AlertsSection
    from console.core.state import Gpu, NodeStatus

HOT_CRITICAL_C = 83  # Intel Gaudi Health Screen: CRITICAL from here
HOT_WARNING_C = HOT_CRITICAL_C - 5
POWER_OVER_CAP = 1.25  # a draw this far over its cap is a sensor or a card failing
# the driver's status words (sysfs `status`): those that are not a working card, and what
# to do; "in reset" passes by itself, so it is a warning
NOT_WORKING = {
    "disabled": (
        "critical",
        "the device is not usable: drain the node; reset the card "
        "(hl-smi -r -i <bus>, as root) or reboot; a card that stays disabled "
        "needs a hardware ticket",
    ),
    "needs reset": (
        "critical",
        "not usable until a hard reset: drain the node, then "
        "hl-smi -r -i <bus> (as root) or reboot",
    ),
    "in reset": ("warning", "the driver is resetting it: it returns by itself, else reboot"),
    "in device creation": (
        "warning",
        "the driver is still bringing it up: wait, else dmesg | grep habanalabs",
    ),
    "in reset after device release": (
        "warning",
        "the driver is resetting it after its last user: it returns by itself",
    ),
}


PRODUCTS = {  # hl-smi's name -> the product (reference/accelerators.md §1.1)
    "HL-205": "Gaudi",
    "HL-225": "Gaudi 2",
    "HL-225B": "Gaudi 2",
    "HL-325": "Gaudi 3",
    "HL-325L": "Gaudi 3",
}


def device_state(g: Gpu) -> tuple[str, bool]:
    """The driver's word where it is not operational, ports down, rows pending."""
    words = []
    if g.health and g.health.lower() != "operational":
        words.append(g.health)
    if g.links_down:
        words.append(f"ports {','.join(map(str, g.links_down))} down")
    if g.rows_pending:
        words.append("rows pending")
    return ", ".join(words) or "—", bool(words)


def _reset(g: Gpu) -> str:
    """The command that resets the card (as root), with its address where it is known."""
    return f"hl-smi -r -i {g.bus or '<bus>'}"


def rules(
    node: NodeStatus,
    hpus: tuple[Gpu, ...],
    events: tuple[tuple[float, int | None, int], ...],
    limits: AlertsSection,
    drain: str,
) -> Iterator[Finding]:
    for g in hpus:
        word = (g.health or "").lower()
        if word in NOT_WORKING:
            severity, step = NOT_WORKING[word]
            where = ", ".join(f"{k} {v}" for k, v in (("bus", g.bus), ("serial", g.serial)) if v)
            yield Finding(
                f"hpu_status:{g.index}",
                severity,
                f"HPU {g.index} {word}" if word.startswith("needs") else f"HPU {g.index} is {word}",
                f"the habanalabs driver's status: {word}" + (f" ({where})" if where else ""),
                step.replace("drain the node", f"drain the node ({drain})").replace(
                    "hl-smi -r -i <bus>", _reset(g)
                ),
            )
    working = [g for g in hpus if (g.health or "operational").lower() not in NOT_WORKING]
    down = [g for g in working if g.links_down]
    if down:
        yield Finding(
            "hpu_links",
            "critical",
            f"{device_list('HPU', down)}: {sum(len(g.links_down) for g in down)} NIC ports down",
            "; ".join(
                f"HPU {g.index}: port{'s' if len(g.links_down) > 1 else ''} "
                f"{','.join(map(str, g.links_down))} down "
                f"({(g.links or 0) - len(g.links_down)} of {g.links} up)"
                for g in down
            ),
            "internal ports: bring them up (manage_network_ifs.sh --up), else reload the "
            "driver (rmmod habanalabs; modprobe habanalabs) or reboot, and investigate the "
            "card if they stay down; external ports: the cable and the switch",
        )
    hot = [g for g in working if g.temp_c is not None and g.temp_c >= HOT_WARNING_C]
    if hot:
        hottest = max(g.temp_c or 0 for g in hot)
        yield Finding(
            "hpu_hot",
            "critical" if hottest >= HOT_CRITICAL_C else "warning",
            f"{device_list('HPU', hot)} at up to {hottest} °C",
            ", ".join(f"HPU {g.index}: {g.temp_c} °C" for g in hot)
            + f" (Intel's health screen: {HOT_CRITICAL_C} °C is critical)",
            "check fans and airflow; lower the card's power cap (hl-smi -p <watts>, as root) "
            "until it is fixed",
        )
    for g in working:
        if g.ecc_uncorrected:
            yield Finding(
                f"hpu_ecc:{g.index}",
                "critical",
                f"HPU {g.index}: {g.ecc_uncorrected} uncorrectable ECC errors",
                "hl-smi's volatile uncorrected ECC count",
                f"drain the node ({drain}) and reset the card ({_reset(g)}) or reboot; "
                "repeated errors mean an RMA",
            )
        if g.rows_pending:
            yield Finding(
                f"hpu_rows:{g.index}",
                "warning",
                f"HPU {g.index}: memory rows pending replacement",
                "hl-smi -q: Replaced Rows, Pending: Yes",
                f"at a quiet moment drain the node ({drain}) and reset the card "
                f"({_reset(g)}) or reboot: rows are replaced at the reset",
            )
        cap = g.power_limit_w
        if g.power_w is not None and cap and g.power_w > cap * POWER_OVER_CAP:
            yield Finding(
                f"hpu_power:{g.index}",
                "critical",
                f"HPU {g.index} draws {g.power_w:.0f} W on a {cap:.0f} W cap",
                f"hl-smi: power.draw {g.power_w:.0f} W, Power Max {cap:.0f} W",
                "confirm with hl-smi -q -d POWER (Power Draw against Power Max); a card "
                "reading far above its cap is failing (work on it keeps failing): "
                f"drain the node ({drain}) and have the card replaced",
            )
    if hpus:
        yield from _release_mismatch(node)


# Intel's images name the Gaudi software release they are built for
# (vault.habana.ai/gaudi-docker/<release>/<os>/habanalabs/<image>:<tag>) and the driver
# says its own (1.24.1-b336d5e): a container of another release than the driver's fails
# at its first use of a card (reference/accelerators.md §1.8, firmware/driver mismatch)
IMAGE_RELEASE = re.compile(r"gaudi-docker/(\d+\.\d+)\.\d+/")
DRIVER_RELEASE = re.compile(r"\b(\d+\.\d+)\.\d+-[0-9a-f]{6,}\b")


def _release_mismatch(node: NodeStatus) -> Iterator[Finding]:
    driver = DRIVER_RELEASE.search(node.system.driver or "")
    if driver is None:
        return
    for c in node.containers:
        built = IMAGE_RELEASE.search(c.image or "")
        if built is None or built[1] == driver[1] or c.state not in ("running", "restarting"):
            continue
        yield Finding(
            f"hpu_release:{c.name}",
            "critical",
            f"{c.name} is built for Intel Gaudi {built[1]}, the driver is {driver[1]}",
            f"image {c.image}; hl-smi: driver {driver[0]}",
            f"run the image of the driver's release (gaudi-docker/{driver[1]}.x/…; hl-smi -q "
            f"names the driver) or install the driver of the image's ({built[1]}); until then "
            "its work fails on every HPU",
        )


RUNBOOKS = {
    "hpu_status": Runbook(
        "Gaudi card not usable",
        "The habanalabs driver marks the card disabled or needing a reset "
        "(/sys/class/accel/accel<N>/device/status): work placed on it fails.",
        ("cat /sys/class/accel/accel*/device/status", "dmesg | grep habanalabs"),
        ("drain the node; hl-smi -r -i <bus> as root, or reboot",),
    ),
    "hpu_links": Runbook(
        "Gaudi NIC ports down",
        "Scale-out and card-to-card traffic runs over the cards' NIC ports; one down "
        "slows or fails collective operations (all-reduce) across the box.",
        (
            "hl-smi -n link -i <bus> for each card (slow)",
            "hl-smi -n ports -i <bus>: internal or external",
        ),
        ("manage_network_ifs.sh --up", "rmmod habanalabs; modprobe habanalabs, or reboot"),
    ),
    "hpu_hot": Runbook(
        "Gaudi card hot",
        "Intel's health screen calls 83 °C critical; a hot card slows down.",
        ("Fans and airflow; hl-smi -q -d TEMPERATURE,POWER",),
        ("lower the power cap: hl-smi -p <watts> (as root)",),
    ),
    "hpu_rows": Runbook(
        "Memory rows pending replacement",
        "The card found failing HBM rows and replaces them at its next reset.",
        ("hl-smi -q -d ROW_REPLACEMENT",),
        ("reset the card at a quiet moment (hl-smi -r -i <bus>) or reboot",),
    ),
    "hpu_release": Runbook(
        "Gaudi image and driver of different releases",
        "Intel's Gaudi software comes as a driver and images of the same release: a "
        "container built for another release than the host's driver fails when it takes "
        "a card ('Device acquire failed', or errors at the first tensor on an HPU).",
        ("hl-smi -q | grep 'Driver Version'", "docker inspect --format '{{.Config.Image}}'"),
        ("pull the image of the driver's release, or update the driver to the image's",),
    ),
    "hpu_power": Runbook(
        "Gaudi card over its power cap",
        "A card that reports far more power than its cap is failing: training and "
        "inference on it keep failing until it is replaced.",
        ("hl-smi -q -d POWER: Power Draw against Power Max",),
        ("drain the node and have the card replaced",),
    ),
    "hpu_ecc": Runbook(
        "Uncorrectable ECC errors on a Gaudi card",
        "HBM errors the card could not correct: results on it cannot be trusted.",
        ("hl-smi -q -d MEMORY,ROW_REPLACEMENT",),
        ("drain the node and reset the card, or reboot",),
    ),
}

MIB = 1 / (1 << 20)
# Intel's Gaudi metric exporter (reference/accelerators.md §1.6): it names no host (its
# targets' `instance`, or a label the scrape gives them) and no device index (its devices
# are told by UUID); power in milliwatts, memory in bytes
GAUDI_EXPORTER = ExporterSeries(
    name="gaudi-metric-exporter",
    port=41611,
    seen=("habanalabs_temperature_onchip",),
    fields={
        "habanalabs_utilization": ("util", 1.0),
        "habanalabs_memory_used_bytes": ("mem_used_mib", MIB),
        "habanalabs_memory_total_bytes": ("mem_total_mib", MIB),
        "habanalabs_temperature_onchip": ("temp_c", 1.0),
        "habanalabs_power_mW": ("power_w", 1e-3),
        "habanalabs_power_default_limit_mW": ("power_limit_w", 1e-3),
        # rows waiting for replacement at the next reset (a state: non-zero is pending)
        "habanalabs_pending_rows_state": ("rows_pending", 1.0),
    },
    node_label="instance",
    info_labels={"uuid": "UUID", "serial": "Serial"},
    driver_label="driver",
    sane={"temp_c": 300.0},  # a broken sensor's 505712272 °C is no temperature
)


def inventory(out: str) -> list[tuple[str, float]]:
    """`hl-smi -Q index,memory.total -f csv,noheader,nounits`."""
    rows = [[c.strip().split(" ")[0] for c in line.split(",")] for line in out.splitlines()]
    return [(r[0], float(r[1])) for r in rows if len(r) == 2 and r[0].isdigit() and r[1].isdigit()]


def compose(ids: list[str]) -> list[str]:
    """The cards by index through Habana's runtime: its hook mounts those it is told."""
    return [
        "    runtime: habana",
        "    cap_add: [sys_nice]",
        "    environment:",
        f"      - HABANA_VISIBLE_DEVICES={','.join(ids)}",
        "      - OMPI_MCA_btl_vader_single_copy_mechanism=none",
    ]


DEPLOY = DeviceDeploy(
    inventory="hl-smi -Q index,memory.total -f csv,noheader,nounits",
    parse=inventory,
    missing="install the Intel Gaudi driver (habanalabs) and its tools first",
    runtime="habana",
    runtime_words="Habana's container runtime",
    runtime_by_hand="install habanalabs-container-runtime (Intel's Gaudi repository), register "
    'it in /etc/docker/daemon.json ({"runtimes": {"habana": {"path": '
    '"/usr/bin/habana-container-runtime", "runtimeArgs": []}}}, merged with what is there) '
    "and restart docker",
    compose=compose,
    count_in_container="hl-smi -Q index -f csv,noheader 2>/dev/null | grep -c .",
    platform="habana",
)

GAUDI = Accelerator(
    name="gaudi",
    label="Intel Gaudi",
    short="Gaudi",
    noun="HPU",
    probe_part=Path(__file__).with_name("gaudi_probe.py"),
    probe_needs=("hl-smi",),
    tool="hl-smi",
    tools=("hl-smi", "habanalabs"),
    unreadable_fix="check the habanalabs driver: hl-smi on the node, dmesg | grep habanalabs "
    "(after a kernel update, reinstall the driver)",
    missing_fix="a card the driver failed to bring up: dmesg | grep habanalabs "
    "('Device is NOT usable'); reboot, then have the card investigated",
    memory_check="hl-smi for the cards' memory in use",
    rules=rules,
    runbooks=RUNBOOKS,
    products=PRODUCTS,
    device_state=device_state,
    exporter=GAUDI_EXPORTER,
    deploy=DEPLOY,
    kube_resource="habana.ai/gaudi",
    sizes={"dl1.24xlarge": (8, "Gaudi")},  # EC2 DL1: eight first-generation Gaudi cards
    kube_plugin_check="check the habanalabs device plugin's log on the node (XidCriticalError: "
    "a card went unhealthy) and hl-smi there",
)
