"""The rules of [[provision.pools]]: a driver we know, credentials as references, names
from the documented placeholders only and valid as node names, no private port opened to
the world, SSH from real CIDRs, endpoints that are no metadata address."""

from __future__ import annotations

import re
from typing import Any

from console.core.accelerators import ACCELERATORS
from console.core.profile.problems import PathT
from console.core.schema import check_name, render_names
from console.core.secrets import (
    REFERENCE_SYNTAX,
)
from console.core.stacks import STACKS
from console.core.text import printable


def provision_problems(provision: Any, cluster_stack: dict[str, Any], at: Any):
    if not isinstance(provision, dict):
        return
    for pi, pool in dicts_of(provision.get("pools")):
        ppath: PathT = ("provision", "pools", pi)
        cluster, role = pool.get("cluster"), pool.get("role")
        if isinstance(cluster, str) and cluster not in cluster_stack:
            yield at(
                (*ppath, "cluster"),
                f"cluster {cluster!r} is not defined",
                "name one of the [[clusters]] of this profile",
            )
        stack = cluster_stack.get(cluster) if isinstance(cluster, str) else None
        info = STACKS.get(stack) if isinstance(stack, str) else None
        if info and isinstance(role, str) and role not in info.roles:
            yield at(
                (*ppath, "role"),
                f"role {role!r} is not a role of stack {info.name!r}",
                "use one of: " + ", ".join(info.roles),
            )
        if pool.get("driver") not in (None, "dummy") and pool.get("credentials") is None:
            yield at(
                (*ppath, "credentials"),
                "cloud credentials reference is missing",
                f'credentials = "keyring:fleetdeck/{pool.get("driver")}" ({REFERENCE_SYNTAX})',
            )
        yield from _pool_names_problems(pool, ppath, info, at)
        if pool.get("driver") == "azure":
            for key, what in (
                ("resource_group", "the resource group the machines go into"),
                ("network", "an existing virtual network (libcloud cannot create one)"),
            ):
                if not pool.get(key):
                    yield at((*ppath, key), f"an Azure pool needs {what}", f'{key} = "..."')
        ports = pool.get("open_ports")
        for i, port in enumerate(ports if isinstance(ports, list) else []):
            if port in NEVER_PUBLIC:
                yield at(
                    (*ppath, "open_ports", i),
                    f"port {port} is {NEVER_PUBLIC[port]} and must never be open to the world",
                    "reach it through fleetdeck's SSH forwarding",
                )
        if info and isinstance(ports, list):
            for i, port in enumerate(ports):
                if port in info.private_ports:
                    yield at(
                        (*ppath, "open_ports", i),
                        f"port {port} is a private {info.name} port and must never be open "
                        "to the world",
                        "reach it through fleetdeck's SSH forwarding",
                    )


GCE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


# ports no pool opens to the world, whatever its stack: what they serve is the host's own
NEVER_PUBLIC = {
    2375: "the Docker API",
    2376: "the Docker API (TLS)",
    9100: "node-exporter's metrics (on some stacks a private callback port)",
    10250: "the kubelet's API",
} | {  # each accelerator vendor's metric exporter
    a.exporter.port: f"{a.exporter.name}'s metrics" for a in ACCELERATORS.values() if a.exporter
}


def _pool_names_problems(pool: dict, ppath: PathT, info: Any, at: Any):
    names, count = pool.get("names", "{pool}-{n}"), pool.get("count", 1)
    if not isinstance(names, str) or not isinstance(count, int):
        return
    fields = {"pool": pool.get("name"), "cluster": pool.get("cluster"), "role": pool.get("role")}
    try:
        first = render_names(names, n=1, **fields)
        last = render_names(names, n=count, **fields)
        for made in (first, last):
            check_name(made)
    except ValueError as exc:
        yield at(
            (*ppath, "names"),
            f"{printable(names)[:80]!r} does not make node names: {exc}",
            'use {pool}, {cluster}, {role} and {n} in a name, e.g. "{cluster}-ml{n}"',
        )
        return
    if pool.get("driver") == "gce" and not GCE_NAME.fullmatch(first):
        yield at(
            (*ppath, "names"),
            f"{first!r} cannot name a GCE instance: lowercase letters, digits and '-', "
            "starting with a letter, at most 63",
            'e.g. names = "{cluster}-ml{n}" with lowercase cluster and pool names',
        )
    if count > 1 and "{n}" not in names:
        yield at(
            (*ppath, "names"),
            f"{count} machines would all be named {first!r}",
            'put {n} in the pattern, e.g. "{cluster}-ml{n}"',
        )
    if info and pool.get("role") in info.singleton_roles and count != 1:
        yield at(
            (*ppath, "count"),
            f"a {info.name} cluster has exactly one {pool.get('role')!r} node; this pool "
            f"would make {count}",
            "count = 1",
        )


def dicts_of(value: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)]
