"""Simulated GPU exporters: one per node, each on its own loopback port, serving the node's
simulated devices in its vendor's exporter format: dcgm-exporter's for NVIDIA GPUs
(reference/real/prometheus/*.prom: the same metric names, the same labels in the same
order), Intel's Gaudi metric exporter's for Gaudi cards (its nine labels, milliwatts and
bytes, and its limit of one scrape per 5 s: a quicker one is answered 429 `rate limiting
exceeded`), AMD's device metrics exporter's for Instinct GPUs (with or without its `amd_`
prefix) (reference/accelerators.md §1.6, §2.3), for a real Prometheus to scrape. Killing a
node's exporter closes its port, as a dead exporter's would be: the next scrape is refused
and Prometheus says `up == 0`.

Thousands of them fit in one process (one asyncio loop on its own thread): the GPU
readings come from console/sim/gpus.py, as the fake nvidia-smi's do. Run alone
(`python -m console.sim.exporters --nodes 1000 --ports-file F`) for the scale benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import threading
import time
from dataclasses import dataclass, field

from console.sim import gpus as simgpus

# (metric, type, help) in the order dcgm-exporter's default counters serve them
FIELDS = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total number of double-bit volatile ECC errors."),
)


@dataclass
class Exporter:
    node: str
    cluster: str
    gpus: int = 8
    gpu_type: str = "H100"
    faults: simgpus.GpuFaults = field(default_factory=simgpus.GpuFaults)
    port: int = 0
    server: asyncio.base_events.Server | None = None
    open_connections: set = field(default_factory=set)  # a dead exporter's die with it
    prefix: str = ""  # AMD's MetricsFieldPrefix ("amd_"), where its config sets one
    last_scrape: float = 0.0  # the Gaudi exporter's rate limit counts from here
    refused: int = 0  # scrapes it answered 429

    def text(self, now: float) -> str:
        vendor = simgpus.vendor_of(self.gpu_type)
        snap = simgpus.readings(self.node, self.gpus, self.gpu_type, True, now, self.faults)
        if vendor == "gaudi":
            return gaudi_text(snap)
        if vendor == "amd":
            return amd_text(self.node, snap, self.prefix, self.faults.afid_fatal)
        last_xid: dict[int, int] = {}
        for _, index, xid in snap.xid_events:
            last_xid[index] = xid
        rows: dict[str, list[str]] = {f: [] for f, _, _ in FIELDS}
        for g in snap.gpus:
            labels = (
                f'gpu="{g.index}",UUID="{g.uuid}",pci_bus_id="{g.pci_bus_id}",'
                f'device="nvidia{g.index}",modelName="{g.name}",Hostname="{self.node}",'
                f'DCGM_FI_DRIVER_VERSION="{snap.driver_version}"'
            )
            xid = last_xid.get(g.index, 0)
            if g.lost:  # DCGM reads nothing more of it; its last Xid stays
                rows["DCGM_FI_DEV_XID_ERRORS"].append(f"DCGM_FI_DEV_XID_ERRORS{{{labels}}} {xid}")
                continue
            values = (
                g.clock_sm,
                g.clock_mem,
                g.temperature,
                f"{g.power_draw_w:.6f}",
                g.utilization_gpu,
                g.memory_total_mib - g.memory_used_mib,
                g.memory_used_mib,
                xid,
                g.ecc_uncorrected_volatile,
            )
            for (metric, _, _), value in zip(FIELDS, values, strict=True):
                rows[metric].append(f"{metric}{{{labels}}} {value}")
        out = []
        for metric, kind, text in FIELDS:
            out += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}", *rows[metric]]
        return "\n".join(out) + "\n"


GAUDI_RATE_S = 5.0  # the Gaudi exporter: one request per 5 s ("the call to the driver
# takes about 2-3 second"), HTTP 429 `rate limiting exceeded` past it
GAUDI_SERIES = (  # (metric, the reading's value) in the exporter's Collect order
    ("habanalabs_utilization", lambda g: g.utilization_gpu),
    ("habanalabs_memory_used_bytes", lambda g: g.memory_used_mib << 20),
    ("habanalabs_memory_free_bytes", lambda g: (g.memory_total_mib - g.memory_used_mib) << 20),
    ("habanalabs_memory_total_bytes", lambda g: g.memory_total_mib << 20),
    ("habanalabs_power_mW", lambda g: int(g.power_draw_w * 1000)),
    ("habanalabs_power_default_limit_mW", lambda g: int(g.power_limit_w * 1000)),
    ("habanalabs_temperature_onchip", lambda g: g.temperature),
    ("habanalabs_temperature_onboard", lambda g: max(g.temperature - 9, 0)),
    ("habanalabs_temperature_threshold_shutdown", lambda g: 105),
    ("habanalabs_temperature_threshold_slowdown", lambda g: 95),
    ("habanalabs_pending_rows_state", lambda g: int(g.rows_pending)),
    ("habanalabs_clock_soc_mhz", lambda g: g.clock_sm),
    ("accelerator_gpu_utilization", lambda g: g.utilization_gpu),  # its neutral duplicates
    ("accelerator_power_usage_watts", lambda g: int(g.power_draw_w * 1000)),  # mW, as coded
)


def gaudi_text(snap: simgpus.GpuSnapshot) -> str:
    """The Gaudi metric exporter's page: every series a gauge, the nine device labels
    (`device` is the serial again; `fit` and `spi` as the exporter fills them)."""
    out = []
    cards = [g for g in snap.gpus if not g.missing]  # a card that never came up: no series
    for metric, value in GAUDI_SERIES:
        out += [f"# HELP {metric} {metric.replace('_', ' ')}", f"# TYPE {metric} gauge"]
        for g in cards:
            labels = (
                f'Serial="{g.serial}",UUID="{g.uuid}",device="{g.serial}",id="4193",'
                f'fit="2024.04",spi="hl-gaudi3-1.24.1-fw-59.2.3-sec-2",driver="{snap.driver_version}",'
                'pod_namespace="",pod_name=""'
            )
            out.append(f"{metric}{{{labels}}} {value(g)}")
    return "\n".join(out) + "\n"


AMD_SERIES = (  # (field, the reading's value), lowercase as the exporter names them
    ("gpu_gfx_activity", lambda g: g.utilization_gpu),
    ("gpu_umc_activity", lambda g: g.utilization_memory),
    ("gpu_used_vram", lambda g: g.memory_used_mib),
    ("gpu_total_vram", lambda g: g.memory_total_mib),
    ("gpu_junction_temperature", lambda g: g.temperature),
    ("gpu_memory_temperature", lambda g: max(g.temperature - 8, 0)),
    ("gpu_package_power", lambda g: int(g.power_draw_w)),
    ("gpu_ecc_uncorrect_total", lambda g: g.ecc_uncorrected_volatile),
)


AFID = "30"  # the AMD Field ID the simulated fatal error carries


def amd_text(
    node: str, snap: simgpus.GpuSnapshot, prefix: str, afid_fatal: int | None = None
) -> str:
    """AMD's device metrics exporter's page, with its config's field prefix (or none); its
    AFID error counts per GPU, AFID and severity."""
    out = []
    gpus = [g for g in snap.gpus if not g.missing]
    for name, value in AMD_SERIES:
        metric = prefix + name
        out += [f"# HELP {metric} {name.replace('_', ' ')}", f"# TYPE {metric} gauge"]
        for g in gpus:
            labels = (
                f'card_model="{g.name}",gpu_compute_partition_type="spx",gpu_id="{g.index}",'
                f'gpu_memory_partition_type="nps1",gpu_partition_id="0",hostname="{node}",'
                f'serial_number="{g.serial}"'
            )
            out.append(f"{metric}{{{labels}}} {value(g)}")
    metric = prefix + "gpu_afid_errors"
    out += [f"# HELP {metric} gpu afid errors", f"# TYPE {metric} gauge"]
    for g in gpus:
        for severity in ("fatal", "non_fatal_uncorrected", "non_fatal_corrected"):
            count = int(severity == "fatal" and afid_fatal == g.index)
            out.append(
                f'{metric}{{afid_index="{AFID}",card_model="{g.name}",gpu_id="{g.index}",'
                f'hostname="{node}",serial_number="{g.serial}",severity="{severity}"}} {count}'
            )
    return "\n".join(out) + "\n"


class Exporters:
    """A fleet's exporters on one loop. `start()` opens every port; `kill(node)` closes
    one, `revive(node)` opens it again (on the same port)."""

    def __init__(self, nodes: list[Exporter]) -> None:
        self.nodes = {e.node: e for e in nodes}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="dcgm")
        self.scrapes = 0

    def start(self) -> None:
        self._thread.start()
        self._call(self._open_all())

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)

    def ports(self) -> dict[str, int]:
        return {name: e.port for name, e in self.nodes.items()}

    def kill(self, node: str) -> None:
        self._call(self._close(self.nodes[node]))

    def revive(self, node: str) -> None:
        self._call(self._open(self.nodes[node]))

    def xid(self, node: str, gpu: int, xid: int) -> None:
        faults = self.nodes[node].faults
        faults.xid_events.append((len(faults.xid_events) + 1, gpu, xid))
        if xid == 79:
            faults.fallen_off_bus = gpu

    def hot(self, node: str, on: bool = True) -> None:
        self.nodes[node].faults.hot = on

    # -- the loop's side
    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    async def _open_all(self) -> None:
        for e in self.nodes.values():
            await self._open(e)

    async def _close_all(self) -> None:
        for e in self.nodes.values():
            await self._close(e)

    async def _open(self, e: Exporter) -> None:
        if e.server is not None:
            return
        e.server = await asyncio.start_server(
            lambda r, w: self._serve(e, r, w), "127.0.0.1", e.port, reuse_address=True
        )
        e.port = e.server.sockets[0].getsockname()[1]

    async def _close(self, e: Exporter) -> None:
        if e.server is None:
            return
        server, e.server = e.server, None
        server.close()
        for writer in list(e.open_connections):
            writer.transport.abort()  # reset, as a killed process's sockets are
        await server.wait_closed()

    async def _serve(self, e: Exporter, reader, writer) -> None:
        e.open_connections.add(writer)
        try:
            while e.server is not None:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"GET /metrics"):
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                now = time.time()
                if simgpus.vendor_of(e.gpu_type) == "gaudi" and now - e.last_scrape < GAUDI_RATE_S:
                    e.refused += 1
                    body = b"rate limiting exceeded\n"
                    writer.write(
                        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\n"
                        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                    )
                    await writer.drain()
                    continue
                e.last_scrape = now
                body = e.text(now).encode()
                self.scrapes += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8"
                    b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            e.open_connections.discard(writer)
            writer.close()


def fleet(clusters: dict[str, int], gpus: int = 8, gpu_type: str = "H100") -> list[Exporter]:
    """`{cluster: node count}` -> exporters named <cluster>-gpu-<n>."""
    return [
        Exporter(f"{cluster}-gpu-{n}", cluster, gpus, gpu_type)
        for cluster, count in clusters.items()
        for n in range(1, count + 1)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cluster", action="append", default=[], help="NAME=COUNT, repeatable")
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--ports-file", required=True, help="where {node: [cluster, port]} goes")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # a port and a scrape each
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    counts = {c.split("=")[0]: int(c.split("=")[1]) for c in args.cluster}
    exporters = Exporters(fleet(counts, args.gpus))
    exporters.start()
    ports = {e.node: [e.cluster, e.port] for e in exporters.nodes.values()}
    with open(args.ports_file + ".tmp", "w") as f:
        json.dump(ports, f)
    os.replace(args.ports_file + ".tmp", args.ports_file)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    exporters.stop()


if __name__ == "__main__":
    main()
