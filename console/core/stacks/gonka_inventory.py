"""Import an Ansible INI inventory of the Gonka deployment plan's shape into a profile.

The plan groups hosts as `clusterN_network_node` and `clusterN_ml_nodes`, joined by
`clusterN:children`, with `ansible_host`, `ansible_user` and `ansible_port` per host or in
`:vars` sections. What has no place in a profile is listed, never silently dropped.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

from console.core.profile import Problem, ProfileError, loads
from console.core.schema import check_host

_SECTION_RE = re.compile(r"^\[(?P<name>[^\]:]+)(?::(?P<kind>children|vars))?\]\s*$")
_ROLE_GROUP_RE = re.compile(r"^(?P<cluster>.+?)_(?P<role>network_nodes?|ml_nodes?)$")
_RANGE_RE = re.compile(r"\[(\d+):(\d+)\]")
_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]")

CARRIED_VARS = {
    "ansible_host",
    "ansible_user",
    "ansible_port",
    "ansible_ssh_private_key_file",
    "gpus",
    "gpu_count",
}


@dataclass
class InventoryHost:
    name: str
    vars: dict[str, str] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)


@dataclass
class Inventory:
    hosts: dict[str, InventoryHost] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    group_vars: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    text: str
    notes: list[str]  # what could not be carried over, one line each


def _expand(pattern: str) -> list[str]:
    """`ml[01:03]` -> ml01, ml02, ml03 (Ansible's numeric host ranges)."""
    m = _RANGE_RE.search(pattern)
    if not m:
        return [pattern]
    lo, hi = m.group(1), m.group(2)
    width = len(lo) if lo.startswith("0") else 0
    out = []
    for i in range(int(lo), int(hi) + 1):
        out += _expand(pattern[: m.start()] + str(i).zfill(width) + pattern[m.end() :])
    return out


def parse_inventory(text: str, file: str) -> Inventory:
    inv = Inventory()
    section, kind = "ungrouped", None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        m = _SECTION_RE.match(line)
        if m:
            section, kind = m["name"].strip(), m["kind"]
            continue
        if kind == "children":
            inv.children.setdefault(section, []).append(line.split()[0])
            continue
        if kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                inv.notes.append(f"{file}:{lineno}: ignored line in [{section}:vars]: {line}")
                continue
            inv.group_vars.setdefault(section, {})[key.strip()] = _unquote(value.strip())
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise ProfileError(
                [Problem(file, f"cannot parse host line: {exc}", line=lineno)]
            ) from None
        host_vars: dict[str, str] = {}
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if sep:
                host_vars[key] = value
            else:
                inv.notes.append(f"{file}:{lineno}: ignored word {word!r} on host line")
        for name in _expand(words[0]):
            host = inv.hosts.setdefault(name, InventoryHost(name))
            host.vars.update(host_vars)
            if section not in host.groups:
                host.groups.append(section)
    return inv


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _node_name(name: str) -> str:
    return _NAME_BAD.sub("-", name).strip("-._")[:63] or "node"


def import_inventory(path: str | Path, fleet_name: str | None = None) -> ImportResult:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError([Problem(file, f"cannot read inventory: {exc}")]) from None
    inv = parse_inventory(text, file)
    notes = list(inv.notes)

    all_vars = inv.group_vars.get("all", {})
    users = Counter(
        h.vars.get("ansible_user", all_vars.get("ansible_user", "root")) for h in inv.hosts.values()
    )
    default_user = users.most_common(1)[0][0] if users else "root"

    # cluster -> list of (host, role); cluster order as first seen
    clusters: dict[str, list[tuple[InventoryHost, str]]] = {}
    placed: set[str] = set()
    for host in inv.hosts.values():
        for group in host.groups:
            m = _ROLE_GROUP_RE.match(group)
            if not m:
                continue
            role = "network" if m["role"].startswith("network") else "ml"
            if host.name in placed:
                notes.append(f"host {host.name}: in more than one cluster group; kept the first")
                continue
            clusters.setdefault(m["cluster"], []).append((host, role))
            placed.add(host.name)
    for host in inv.hosts.values():
        if host.name not in placed:
            notes.append(
                f"host {host.name}: in no clusterN_network_node / clusterN_ml_nodes "
                f"group ({', '.join(host.groups)}); not imported"
            )
    for parent, kids in inv.children.items():
        expected = {k for k in kids if _ROLE_GROUP_RE.match(k)}
        if parent not in clusters and parent != "all":
            notes.append(f"group {parent}:children ({', '.join(kids)}) is not a cluster; ignored")
        elif parent in clusters and expected != set(kids):
            notes.append(f"group {parent}:children: groups {sorted(set(kids) - expected)} ignored")
    if not clusters:
        raise ProfileError(
            [
                Problem(
                    file,
                    "no clusterN_network_node or clusterN_ml_nodes groups found; nothing to import",
                )
            ]
        )

    for group, gvars in inv.group_vars.items():
        for key, value in gvars.items():
            carried = group == "all" and key in (
                "ansible_user",
                "ansible_port",
                "ansible_ssh_private_key_file",
            )
            carried |= group in clusters and key == "ansible_user"
            if not carried:
                notes.append(f"[{group}:vars] {key}={value}: no profile equivalent; not carried")

    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Imported from {Path(file).name} by fleetdeck import-inventory."))
    doc.add(tomlkit.comment('Assign each node\'s model (model = "…", declared under [models]).'))
    for note in notes:
        doc.add(tomlkit.comment(f"not carried over: {note}"))
    doc.add(tomlkit.nl())

    fleet = tomlkit.table()
    fleet["name"] = _node_name(fleet_name or Path(file).stem)
    fleet["stack"] = "gonka"
    doc["fleet"] = fleet
    ssh = tomlkit.table()
    ssh["user"] = default_user
    if "ansible_port" in all_vars and all_vars["ansible_port"].isdigit():
        ssh["port"] = int(all_vars["ansible_port"])
    if "ansible_ssh_private_key_file" in all_vars:
        ssh["key"] = all_vars["ansible_ssh_private_key_file"]
    doc["ssh"] = ssh

    aot = tomlkit.aot()
    for cname, members in clusters.items():
        cluster = tomlkit.table()
        cluster["name"] = _node_name(cname)
        nodes = tomlkit.aot()
        cluster_user = inv.group_vars.get(cname, {}).get("ansible_user")
        # the network node first, as the plan deploys it first
        for host, role in sorted(members, key=lambda hr: hr[1] != "network"):
            nodes.append(_node_table(host, role, cluster_user or default_user, default_user, notes))
        cluster["nodes"] = nodes
        aot.append(cluster)
    doc["clusters"] = aot

    out = tomlkit.dumps(doc)
    # the notes gathered while building nodes go into the header too
    header_notes = [n for n in notes if f"# not carried over: {n}" not in out]
    if header_notes:
        extra = "".join(f"# not carried over: {n}\n" for n in header_notes)
        first_break = out.index("\n\n") + 1
        out = out[:first_break] + extra + out[first_break:]
    loads(out, f"{file} (imported)")  # the result must be a valid profile
    return ImportResult(out, notes)


def _node_table(
    host: InventoryHost, role: str, user: str, default_user: str, notes: list[str]
) -> tomlkit.items.Table:
    table = tomlkit.table()
    name = _node_name(host.name)
    if name != host.name:
        notes.append(f"host {host.name}: renamed to {name} (node names allow A-Z a-z 0-9 . _ -)")
    table["name"] = name
    address = host.vars.get("ansible_host", host.name)
    try:
        check_host(address)
    except ValueError as exc:
        notes.append(f"host {host.name}: {exc}; fix host in the profile")
    table["host"] = address
    port = host.vars.get("ansible_port")
    if port is not None:
        if port.isdigit():
            table["port"] = int(port)
        else:
            notes.append(f"host {host.name}: ansible_port={port} is not a number; not carried")
    host_user = host.vars.get("ansible_user", user)
    if host_user != default_user:
        table["user"] = host_user
    table["role"] = role
    gpus = host.vars.get("gpus", host.vars.get("gpu_count"))
    if gpus is not None and gpus.isdigit():
        table["gpus"] = int(gpus)
    for key, value in host.vars.items():
        if key not in CARRIED_VARS:
            notes.append(f"host {host.name}: {key}={value}: no profile equivalent; not carried")
    return table
