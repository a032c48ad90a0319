"""Probe lines (console/core/probe.py's JSON) into state values."""

from __future__ import annotations

from typing import Any

from console.core import accelerators
from console.core.state import Container, Disk, Event, Gpu, System


def gpus(line: dict[str, Any]) -> tuple[Gpu, ...]:
    out = []
    for g in line.get("gpus") or []:
        out.append(
            Gpu(
                index=g.get("index"),
                name=g.get("name"),
                uuid=g.get("uuid"),
                util=g.get("util"),
                mem_used_mib=g.get("mem_used_mib"),
                mem_total_mib=g.get("mem_total_mib"),
                temp_c=g.get("temp_c"),
                power_w=g.get("power_w"),
                power_limit_w=g.get("power_limit_w"),
                throttle=tuple(g.get("throttle") or ()),
                ecc_uncorrected=g.get("ecc_uncorrected"),
                processes=len(g.get("processes") or ()),
                lost=bool(g.get("lost")),
                error=g.get("error"),
                vendor=accelerators.of(g.get("vendor")).name,
                serial=g.get("serial"),
                bus=g.get("bus"),
                health=g.get("health"),
                links=g.get("links"),
                links_down=tuple(int(p) for p in g.get("links_down") or ()),
                rows_pending=g.get("rows_pending"),
                fatal_errors=g.get("fatal_errors"),
            )
        )
    return tuple(out)


def containers(line: dict[str, Any]) -> tuple[Container, ...]:
    return tuple(
        Container(
            c.get("name", "?"),
            c.get("image"),
            c.get("state", "unknown"),
            c.get("health"),
            int(c.get("restarts") or 0),
            c.get("started_at"),
            c.get("exit_code"),
            tuple(c.get("addresses") or ()),
            tuple((int(p), str(h), int(hp)) for p, h, hp in c.get("published") or ()),
        )
        for c in line.get("containers") or []
    )


def system(line: dict[str, Any]) -> System:
    s = line.get("system") or {}
    load = s.get("load") or [None]
    return System(
        hostname=s.get("hostname"),
        os=s.get("os"),
        kernel=s.get("kernel"),
        uptime_s=s.get("uptime_s"),
        load1=load[0],
        mem_total_mib=s.get("mem_total_mib"),
        mem_available_mib=s.get("mem_available_mib"),
        disks=tuple(
            Disk(
                d.get("path", "?"),
                d.get("total_gb"),
                d.get("free_gb"),
                d.get("used_pct"),
                d.get("error"),
            )
            for d in s.get("disks") or []
        ),
        driver=line.get("driver"),
        docker=line.get("docker_version"),
    )


def events(line: dict[str, Any]) -> tuple[Event, ...]:
    """The line's device events, each with its vendor; a line from before the accelerator
    seam (an old recording) keeps them under its one vendor's own key."""
    out = [
        (
            e.get("t", 0.0),
            e.get("gpu"),
            int(e.get("code", 0)),
            accelerators.of(e.get("vendor")).name,
        )
        for e in line.get("events") or []
    ]
    old = accelerators.UNNAMED
    key, code = old.legacy_events or ("", "")
    out += [
        (e.get("t", 0.0), e.get("gpu"), int(e.get(code, 0)), old.name) for e in line.get(key) or []
    ]
    return tuple(out)


def merge_events(
    kept: tuple[Event, ...], new: tuple[Event, ...], since: float
) -> tuple[Event, ...]:
    """The events after `since`, each once: a probe that reconnects reads the kernel log
    again, whose copy of an event the driver already reported carries a slightly earlier
    time."""
    out = [x for x in kept if x[0] > since]
    for x in new:
        if not any(o[1:] == x[1:] and abs(o[0] - x[0]) < 5 for o in out):
            out.append(x)
    return tuple(out)
