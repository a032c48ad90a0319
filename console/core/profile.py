"""TOML fleet profiles: load, validate, edit, save.

The tomlkit document is the source of truth, so an edit keeps every comment and untouched
line of the operator's file; the pydantic model is a validated view of it. Loading reports
all problems at once, each with its file, line and field path, and a fix where there is one.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from pydantic import BaseModel, ValidationError
from tomlkit.items import AoT, Table

from console.core.atomic import atomic_write_text
from console.core.profile_schema import NOT_READ_YET, Cluster, FleetProfile, Node
from console.core.schema import check_name, render_names
from console.core.secrets import (
    REFERENCE_SYNTAX,
    SecretError,
    is_secret_key,
    looks_like_reference,
    parse_ref,
)
from console.core.stacks import STACK_NAMES, STACKS
from console.core.text import has_control, printable
from console.core.tomlpos import format_path, line_of, locate

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    path: PathT = ()
    line: int | None = None
    col: int | None = None
    fix: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        text = (
            f"{where}: {format_path(self.path)}: {self.message}"
            if self.path
            else (f"{where}: {self.message}")
        )
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text


class ProfileError(Exception):
    """A profile that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---------------------------------------------------------------- loading


def load(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile file. Raises ProfileError, never anything else."""
    file = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ProfileError([Problem(file, "file not found")]) from None
    except IsADirectoryError:
        raise ProfileError([Problem(file, "is a directory, not a profile file")]) from None
    except UnicodeDecodeError as exc:
        raise ProfileError(
            [Problem(file, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from None
    except OSError as exc:
        raise ProfileError([Problem(file, f"cannot read: {exc.strerror}")]) from None
    return loads(text, file)


def loads(text: str, file: str = "<profile>") -> Profile:
    doc = parse_toml(text, file)
    model = validate(doc, text, file)
    return Profile(file, doc, model)


def parse_toml(text: str, file: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        message = str(exc).split(" at line ")[0]
        if "already exists" in message:  # tomlkit >= 0.15 reports a duplicate key this way
            raise _duplicate_key(text, file, message, exc.line) from None
        fix = None
        if "Control characters" in message or "Unexpected end of file" in message:
            fix = "is a string or bracket left unclosed on this line or just above?"
        raise ProfileError(
            [Problem(file, f"TOML syntax error: {message}", line=exc.line, col=exc.col, fix=fix)]
        ) from None
    except Exception as exc:  # tomlkit < 0.15: KeyAlreadyPresent, which carries no position
        raise _duplicate_key(text, file, str(exc), None) from None


def _duplicate_key(text: str, file: str, message: str, line: int | None) -> ProfileError:
    """A key defined twice, with the path and line of the second definition and the fix.

    tomlkit names only the last key part (and, since 0.15, a line): our own scanner finds
    the full path, so both tomlkit behaviours give the same message.
    """
    duplicates: list[tuple[PathT, int]] = []
    locate(text, duplicates)
    path, found = duplicates[0] if duplicates else ((), line)
    fix = f"remove one of the two {format_path(path)} lines" if path else None
    return ProfileError([Problem(file, f"TOML syntax error: {message}", path, found, fix=fix)])


def validate(doc: tomlkit.TOMLDocument, text: str, file: str) -> FleetProfile:
    positions = locate(text)

    def at(path: PathT, message: str, fix: str | None = None) -> Problem:
        return Problem(file, message, tuple(path), line_of(positions, path), fix=fix)

    try:
        data = doc.unwrap()
    except Exception as exc:  # a document tomlkit parsed but cannot unwrap
        raise ProfileError([Problem(file, f"unreadable TOML value: {exc}")]) from None

    problems = list(_secret_problems(data, at)) + list(_credential_problems(data, at))
    secret_paths = {p.path for p in problems}
    model: FleetProfile | None = None
    try:
        model = FleetProfile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = tuple(err["loc"])
            if path in secret_paths:
                continue  # already reported, with the better message
            problems.append(at(path, *_describe(err, path)))
    problems.extend(_document_problems(data, at))
    if problems:
        problems.sort(key=lambda p: (p.line is None, p.line or 0))
        raise ProfileError(_dedupe(problems))
    assert model is not None
    return model


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[PathT, str]] = set()
    out = []
    for p in problems:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            out.append(p)
    return out


def _describe(err: dict[str, Any], path: PathT) -> tuple[str, str | None]:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        known = _known_fields(path[:-1])
        close = difflib.get_close_matches(key, known, n=1)
        fix = f"did you mean '{close[0]}'?" if close else None
        if not fix and known:
            fix = "known keys here: " + ", ".join(known)
        return f"unknown key '{key}'", fix
    if kind == "missing":
        key = path[-1]
        if key == "fleet":
            stacks = " or ".join(f'"{s}"' for s in STACK_NAMES)
            return "required table is missing", f'add [fleet] with name = "…" and stack = {stacks}'
        if key == "clusters":
            return "required table is missing", "add [[clusters]] with [[clusters.nodes]] entries"
        return "required field is missing", f"add {key} = …"
    if kind in ("int_type", "float_type", "int_parsing") and isinstance(err.get("input"), str):
        return f"{err['msg']} (got {_short(err['input'])})", (
            f"write {err['input']} without quotes" if _numeric(err["input"]) else None
        )
    if kind == "value_error":
        return str(err["ctx"]["error"]), None
    if kind in ("literal_error",):
        return f"{err['input']!r} is not allowed: {err['msg'].removeprefix('Input ')}", None
    return f"{err['msg']} (got {_short(err.get('input'))})", None


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _known_fields(path: PathT) -> list[str]:
    """Field names of the schema model at `path` (for typo hints)."""
    model: Any = FleetProfile
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _inner_model(field.annotation)
    return (
        list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    )


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside list[...], X | None, Annotated[...]; else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not list:
        return _inner_model(origin) if isinstance(origin, type) else None
    return None


# ---------------------------------------------------------------- whole-document rules


def _walk(value: Any, path: PathT = ()) -> Iterator[tuple[PathT, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k), v
            yield from _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*path, i), v
            yield from _walk(v, (*path, i))


def _secret_problems(data: dict[str, Any], at: Any) -> Iterator[Problem]:
    """No literal secret anywhere; references well-formed."""
    for path, value in _walk(data):
        key = path[-1]
        in_secrets = len(path) == 2 and path[0] == "secrets"
        secret_key = isinstance(key, str) and is_secret_key(key)
        if not (in_secrets or secret_key) or not isinstance(value, str):
            continue
        if value.startswith(("keyring:", "env:")):
            try:
                parse_ref(value)
            except SecretError:
                yield at(path, f"malformed secret reference {value!r}", f"use {REFERENCE_SYNTAX}")
            continue
        name = key if isinstance(key, str) else "secret"
        yield at(
            path,
            "literal secret in the profile: profiles hold references only",
            f"store the value in the keyring (keyring set fleetdeck {name}) and write "
            f'"keyring:fleetdeck/{name}", or use "env:VARIABLE"',
        )


# access tokens by their documented prefixes (GitHub, GitLab, Hugging Face, OpenAI-style,
# Slack, AWS access key ids)
_TOKEN_RE = re.compile(
    r"(?<![A-Za-z0-9])(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{16,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16})"
)
_USERINFO_RE = re.compile(r"^[a-z][a-z0-9+.-]*://(?P<user>[^/@\s:]*):(?P<pw>[^/@\s]*)@")
_URL_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# query parameters that carry credentials by convention (API keys, OAuth and signed URLs)
_QUERY_CREDENTIAL_RE = re.compile(
    r"[?&;](?P<name>token|key|api_?key|access_token|auth|password|passwd|pwd|secret|sig"
    r"|signature|x-amz-signature|x-goog-signature)=(?P<value>[^&#;\s]+)",
    re.IGNORECASE,
)
_JUMP_PASSWORD_RE = re.compile(r"^(?P<user>[^/@\s:]*):(?P<pw>[^/@\s]*)@")
_JUMP_RE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def _credential_problems(data: dict[str, Any], at: Any) -> Iterator[Problem]:
    """Credentials written into ordinary values: a password in a URL or `[ssh].jump`, an
    access token anywhere, a secret after a secret-named flag in model args. They would be
    printed by plan and written to the nodes in clear."""
    fix = (
        f"keep it out of the profile: store it in the keyring and reference it from "
        f"[secrets] ({REFERENCE_SYNTAX})"
    )
    for path, value in _walk(data):
        if isinstance(value, str) and has_control(value):
            yield at(
                path,
                f"a control character in the value ({printable(value)[:60]!s}): printed, "
                "it would drive the terminal or reorder what it shows",
                "remove it (TOML escapes such as \\u001b write one)",
            )
            continue
        if not isinstance(value, str) or (len(path) == 2 and path[0] == "secrets"):
            continue
        if isinstance(path[-1], str) and is_secret_key(path[-1]):
            continue  # a secret-named key: _secret_problems reports it
        jump = path == ("ssh", "jump")
        userinfo = (_JUMP_PASSWORD_RE if jump else _USERINFO_RE).match(value)
        if userinfo and userinfo["pw"]:
            where = "[ssh].jump" if jump else "a URL"
            yield at(
                path,
                f"a password is written into {where} ({userinfo['user']}:…@)",
                "remove ':password': fleetdeck logs in with [ssh].key or the SSH agent"
                if jump
                else "remove 'user:password@': a repository takes an SSH URL or git's "
                "credential helper; for anything else, " + fix,
            )
            continue
        query = _QUERY_CREDENTIAL_RE.search(value) if _URL_RE.match(value) else None
        if query:
            yield at(
                path,
                f"a credential is written into a URL's query ({query['name']}=…)",
                f"remove '{query['name']}=…' from the URL: " + fix,
            )
            continue
        if _TOKEN_RE.search(value):
            yield at(path, "an access token is written into the profile", fix)
            continue
        if jump and not _JUMP_RE.match(value):
            yield at(path, f"{value!r} is not a jump host", "write [user@]host[:port], as ssh -J")
    for path, value in _walk(data):
        if not (isinstance(value, list) and path and path[-1] == "args"):
            continue
        for i, arg in enumerate(value):
            if not isinstance(arg, str) or not arg.startswith("-"):
                continue
            flag, eq, inline = arg.partition("=")
            if not is_secret_key(flag.lstrip("-")):
                continue
            secret = inline if eq else (value[i + 1] if i + 1 < len(value) else "")
            secret = str(secret)
            if secret and not _TOKEN_RE.search(secret) and not looks_like_reference(secret):
                yield at(
                    (*path, i + (0 if eq else 1)),
                    f"a secret is written into the model args after {flag}",
                    "model args reach node-config.json and plan in clear; " + fix,
                )


def _same_host(host: str) -> str:
    """One spelling per host: `::1` and `0:0:0:0:0:0:0:1` are one address, names ignore case."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host.lower().rstrip(".")


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)]


def _document_problems(data: dict[str, Any], at: Any) -> Iterator[Problem]:
    """Rules across fields, run on the raw data so they report even when types are off."""
    fleet = data.get("fleet") if isinstance(data.get("fleet"), dict) else {}
    fleet_stack = fleet.get("stack")
    ssh = data.get("ssh") if isinstance(data.get("ssh"), dict) else {}
    default_port = ssh.get("port", 22)
    models = data.get("models") if isinstance(data.get("models"), dict) else {}

    names: dict[str, PathT] = {}
    endpoints: dict[tuple[str, Any], tuple[PathT, Any]] = {}
    cluster_names: dict[str, PathT] = {}
    cluster_stack: dict[str, Any] = {}
    provision = data.get("provision") if isinstance(data.get("provision"), dict) else {}
    pool_clusters = {p.get("cluster") for _, p in _dicts(provision.get("pools"))}
    pool_roles = {(p.get("cluster"), p.get("role")) for _, p in _dicts(provision.get("pools"))}
    for ci, cluster in _dicts(data.get("clusters")):
        cpath: PathT = ("clusters", ci)
        cname = cluster.get("name")
        stack = cluster.get("stack", fleet_stack)
        if isinstance(cname, str):
            if cname in cluster_names:
                yield at(
                    (*cpath, "name"),
                    f"duplicate cluster name {cname!r}",
                    f"first used at {format_path(cluster_names[cname])}",
                )
            cluster_names.setdefault(cname, (*cpath, "name"))
            cluster_stack[cname] = stack
        info = STACKS.get(stack) if isinstance(stack, str) else None
        roles = Counter()
        for ni, node in _dicts(cluster.get("nodes")):
            npath: PathT = (*cpath, "nodes", ni)
            name, host = node.get("name"), node.get("host")
            if isinstance(name, str):
                if name in names:
                    yield at(
                        (*npath, "name"),
                        f"duplicate node name {name!r}",
                        f"first used at {format_path(names[name])}; node names are "
                        "unique across the whole fleet",
                    )
                names.setdefault(name, (*npath, "name"))
            port = node.get("port", default_port)
            if isinstance(host, str) and isinstance(port, int):
                endpoint = (_same_host(host), port)
                if endpoint in endpoints:
                    first_path, first_name = endpoints[endpoint]
                    yield at(
                        (*npath, "host"),
                        f"{host}:{endpoint[1]} is already used by node "
                        f"{first_name!r} ({format_path(first_path)})",
                        "each node needs its own host:port",
                    )
                endpoints.setdefault(endpoint, (npath, name))
            role = node.get("role")
            if isinstance(role, str) and info:
                roles[role] += 1
                if role not in info.roles:
                    yield at(
                        (*npath, "role"),
                        f"role {role!r} is not a role of stack {info.name!r}",
                        "use one of: " + ", ".join(info.roles),
                    )
            yield from _model_problems(node, npath, models, at)
        sourced = bool(data.get("sources"))  # a Kubernetes source lists the nodes itself
        if (
            not cluster.get("nodes")
            and isinstance(cname, str)
            and cname not in pool_clusters
            and not sourced
        ):
            yield at(
                cpath,
                f"cluster {cname!r} has no nodes",
                "add [[clusters.nodes]] entries, a [provision] pool for this cluster, or a "
                "[[sources]] that lists them",
            )
        if info and cluster.get("nodes") and isinstance(cluster.get("nodes"), list):
            for single in info.singleton_roles:
                # a pool still to provision supplies it: the profile fills as machines come up
                pending = roles[single] == 0 and (cname, single) in pool_roles
                if roles[single] != 1 and not pending:
                    yield at(
                        (*cpath, "nodes"),
                        f"a {info.name} cluster needs exactly one {single!r} node, "
                        f"found {roles[single]}",
                        None,
                    )
    yield from _provision_problems(data.get("provision"), cluster_stack, at)
    yield from _source_problems(data.get("sources"), cluster_stack, at)
    yield from _trust_problems(data, at)


def _model_problems(node: dict[str, Any], npath: PathT, models: dict[str, Any], at: Any):
    model, many = node.get("model"), node.get("models")
    if model is not None and many:
        yield at(
            (*npath, "models"),
            "give either model or models, not both",
            'models = [...] for several, model = "..." for one',
        )
    assigned = [(("model",), model)] if isinstance(model, str) else []
    if isinstance(many, list):
        assigned += [(("models", i), m) for i, m in enumerate(many) if isinstance(m, str)]
    for sub, m in assigned:
        if m not in models:
            close = difflib.get_close_matches(m, list(models), n=1)
            yield at(
                (*npath, *sub),
                f"model {m!r} is not declared under [models]",
                f"did you mean {close[0]!r}?"
                if close
                else f'add a [models."{m}"] table (args = [...]: the model server\'s arguments)',
            )


def _source_problems(sources: Any, cluster_stack: dict[str, Any], at: Any):
    """[[sources]]: the clusters they name exist (and, for a stack's metrics endpoint, are
    of that stack), a node pattern compiles, names are unique."""
    seen: set[str] = set()
    for si, source in _dicts(sources):
        spath: PathT = ("sources", si)
        name = source.get("name")
        if isinstance(name, str):
            if name in seen:
                yield at((*spath, "name"), f"source {name!r} is listed twice", None)
            seen.add(name)
        named = [("cluster", source.get("cluster"))] if source.get("cluster") else []
        named += [("clusters", c) for c in source.get("clusters") or [] if isinstance(c, str)]
        for key, cluster in named:
            if isinstance(cluster, str) and cluster not in cluster_stack:
                yield at(
                    (*spath, key),
                    f"cluster {cluster!r} is not defined",
                    "name one of the [[clusters]] of this profile",
                )
        kind = source.get("kind")
        owner = next((s for s in STACKS.values() if s.metrics and s.metrics.kind == kind), None)
        if owner is not None:
            for cluster in source.get("clusters") or []:
                stack = cluster_stack.get(cluster)
                if stack is not None and stack != owner.name:
                    yield at(
                        (*spath, "clusters"),
                        f"cluster {cluster!r} is a {stack} cluster; {kind} reads {owner.name}"
                        " clusters",
                        None,
                    )
        pattern = source.get("node_pattern")
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                yield at(
                    (*spath, "node_pattern"),
                    f"{pattern!r} is not a regular expression: {exc}",
                    'e.g. "^([^.:]+)" takes the name before the first dot or colon',
                )
        role = source.get("role")
        for cluster in [source.get("cluster")] if isinstance(source.get("cluster"), str) else []:
            info = STACKS.get(cluster_stack.get(cluster) or "")
            if info and isinstance(role, str) and role not in info.roles:
                yield at(
                    (*spath, "role"),
                    f"role {role!r} is not a role of stack {info.name!r}",
                    "use one of: " + ", ".join(info.roles),
                )


def _trust_problems(data: dict[str, Any], at: Any):
    """[trust]: each signal's order names sources the profile has (or ssh)."""
    trust = data.get("trust")
    if not isinstance(trust, dict):
        return
    names = {s.get("name") for _, s in _dicts(data.get("sources"))} | {"ssh"}
    for signal, order in trust.items():
        for i, name in enumerate(order if isinstance(order, list) else []):
            if isinstance(name, str) and name not in names:
                yield at(
                    ("trust", signal, i),
                    f"{name!r} is not a source of this profile",
                    "name one of: " + ", ".join(sorted(n for n in names if isinstance(n, str))),
                )


def _provision_problems(provision: Any, cluster_stack: dict[str, Any], at: Any):
    if not isinstance(provision, dict):
        return
    for pi, pool in _dicts(provision.get("pools")):
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
    9100: "node-exporter's metrics (on some stacks an admin API)",
    9400: "dcgm-exporter's metrics",
    10250: "the kubelet's API",
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


def _inline(values: dict) -> tomlkit.items.InlineTable:
    """labels = { pool = "…" } on the node's own line, not a [clusters.nodes.labels] table."""
    table = tomlkit.inline_table()
    table.update(values)
    return table


# ---------------------------------------------------------------- the editable profile


class Profile:
    """A loaded profile: the tomlkit document (kept for saving) and its validated model.

    Every edit goes through the document and is validated before it is kept; a rejected
    edit leaves the profile as it was and raises ProfileError.
    """

    def __init__(self, file: str, doc: tomlkit.TOMLDocument, model: FleetProfile) -> None:
        self.file = file
        self.doc = doc
        self.model = model

    # -- reading
    def text(self) -> str:
        return self.doc.as_string()

    def unused_settings(self) -> list[str]:
        """Settings the profile sets that nothing reads yet, each named with where it will
        be read: accepted (profiles stay valid), but never silently."""
        out = []
        tables = [("[stack]", self.model.stack)] + [
            (f"[clusters.settings] of {c.name}", c.settings)
            for c in self.model.clusters
            if c.settings is not None
        ]
        for where, settings in tables:
            for key in sorted(settings.model_fields_set & NOT_READ_YET.keys()):
                out.append(f"{where} {key} is not used yet: {NOT_READ_YET[key]}")
        return out

    def locate_node(self, name: str) -> tuple[int, int]:
        for ci, cluster in enumerate(self.model.clusters):
            for ni, node in enumerate(cluster.nodes):
                if node.name == name:
                    return ci, ni
        raise KeyError(f"no node named {name!r} in {self.file}")

    def cluster(self, name: str) -> tuple[int, Cluster]:
        for ci, cluster in enumerate(self.model.clusters):
            if cluster.name == name:
                return ci, cluster
        raise KeyError(f"no cluster named {name!r} in {self.file}")

    def node(self, name: str) -> Node:
        ci, ni = self.locate_node(name)
        return self.model.clusters[ci].nodes[ni]

    # -- editing
    def _commit(self, text: str) -> None:
        doc = parse_toml(text, self.file)
        self.model = validate(doc, text, self.file)
        self.doc = doc

    def _edit(self, change) -> None:
        """Apply `change(doc)` on a copy; keep it only if the result validates."""
        doc = tomlkit.parse(self.text())
        change(doc)
        self._commit(doc.as_string())

    def set_value(self, path: PathT, value: Any) -> None:
        """Set any value by path, e.g. ("ssh", "parallelism") or ("clusters", 0, "name")."""

        def change(doc: tomlkit.TOMLDocument) -> None:
            container: Any = doc
            for part in path[:-1]:
                if isinstance(part, str) and part not in container:
                    container[part] = tomlkit.table()
                container = container[part]
            container[path[-1]] = value

        self._edit(change)

    def set_node_field(self, name: str, field: str, value: Any) -> None:
        ci, ni = self.locate_node(name)
        self.set_value(("clusters", ci, "nodes", ni, field), value)

    def add_node(self, cluster: str, before: str | None = None, **fields: Any) -> None:
        """Add a node to `cluster`: last, or just before its node named `before`."""
        ci, _ = self.cluster(cluster)
        at = self.locate_node(before)[1] if before else None

        def change(doc: tomlkit.TOMLDocument) -> None:
            if "nodes" not in doc["clusters"][ci]:  # a cluster a pool is still filling
                doc["clusters"][ci]["nodes"] = tomlkit.aot()
            nodes = doc["clusters"][ci]["nodes"]
            if isinstance(nodes, AoT):
                table = tomlkit.table()
                for k, v in fields.items():
                    table[k] = _inline(v) if isinstance(v, dict) else v
                last = nodes[-1] if len(nodes) else None
                if isinstance(last, Table) and not last.as_string().endswith("\n\n"):
                    last.add(tomlkit.nl())  # a blank line between node tables, as written
                table.add(tomlkit.nl())  # and before whatever table follows
                nodes.append(table) if at is None else nodes.insert(at, table)
            else:
                inline = tomlkit.inline_table()
                inline.update(fields)
                nodes.append(inline) if at is None else nodes.insert(at, inline)

        self._edit(change)

    def remove_node(self, name: str) -> None:
        """Remove a node with its own lines and the comment block right above it.

        tomlkit attaches the comment lines that precede a `[[clusters.nodes]]` header to the
        table before it, so deleting through tomlkit would take the next node's comment
        away and leave the removed node's comment behind. The lines are cut from the text.
        """
        ci, ni = self.locate_node(name)
        pools = self.model.provision.pools if self.model.provision else []
        filled_by_pool = any(p.cluster == self.model.clusters[ci].name for p in pools)
        if len(self.model.clusters[ci].nodes) == 1 and not filled_by_pool:
            raise ProfileError(
                [
                    Problem(
                        self.file,
                        f"node {name!r} is the only node of "
                        f"cluster {self.model.clusters[ci].name!r}",
                        fix="remove the cluster instead",
                    )
                ]
            )
        nodes = self.doc["clusters"][ci]["nodes"]
        if not isinstance(nodes, AoT):
            self._edit(lambda doc: doc["clusters"][ci]["nodes"].pop(ni))
            return
        text = self.text()
        lines = text.splitlines(keepends=True)
        start = locate(text)[("clusters", ci, "nodes", ni)] - 1  # header, 0-based
        end = start + 1
        # its own sub-tables ([clusters.nodes.labels]) go with it
        while end < len(lines) and (
            not lines[end].lstrip().startswith("[")
            or lines[end].lstrip().startswith("[clusters.nodes.")
        ):
            end += 1
        # the comment block and blank lines just above the next header belong to it
        while end > start + 1 and (
            not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
        ):
            end -= 1
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        # one blank separator goes with the node, so the spacing around it stays as it was
        if (
            end < len(lines)
            and not lines[end].strip()
            and (start == 0 or not lines[start - 1].strip())
        ):
            end += 1
        self._commit("".join(lines[:start] + lines[end:]))

    # -- saving
    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        atomic_write_text(path or self.file, self.text())
