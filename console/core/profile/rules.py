"""The rules over the whole document that the schema cannot say: secrets only as
references, no credential in a URL, names and hosts unique, models declared, sources and
their clusters, trust between sources; provisioning pools in pools.py."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from console.core.profile.pools import dicts_of, provision_problems
from console.core.profile.problems import PathT, Problem
from console.core.secrets import (
    REFERENCE_SYNTAX,
    SecretError,
    is_secret_key,
    looks_like_reference,
    parse_ref,
)
from console.core.stacks import STACKS, settings_of, stacks_knowing
from console.core.text import has_control, printable
from console.core.tomlpos import format_path


def _walk(value: Any, path: PathT = ()) -> Iterator[tuple[PathT, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k), v
            yield from _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*path, i), v
            yield from _walk(v, (*path, i))


def secret_problems(data: dict[str, Any], at: Any) -> Iterator[Problem]:
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


def credential_problems(data: dict[str, Any], at: Any) -> Iterator[Problem]:
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
            continue  # a secret-named key: secret_problems reports it
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


def document_problems(data: dict[str, Any], at: Any) -> Iterator[Problem]:
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
    pool_clusters = {p.get("cluster") for _, p in dicts_of(provision.get("pools"))}
    pool_roles = {(p.get("cluster"), p.get("role")) for _, p in dicts_of(provision.get("pools"))}
    for ci, cluster in dicts_of(data.get("clusters")):
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
        for ni, node in dicts_of(cluster.get("nodes")):
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
    yield from _settings_problems(data, fleet_stack, at)
    yield from provision_problems(data.get("provision"), cluster_stack, at)
    yield from _source_problems(data.get("sources"), cluster_stack, at)
    yield from _trust_problems(data, at)
    yield from _paging_problems(data.get("paging"), cluster_stack, at)


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


def _settings_problems(data: dict[str, Any], fleet_stack: Any, at: Any) -> Iterator[Problem]:
    """Each cluster's [clusters.settings] holds the common settings and its own stack's;
    [stack] those of a stack some cluster runs. Another stack's key is named, with the
    stacks that read it (another stack's key was once taken, and read by nobody)."""
    used: set[str] = set()
    for ci, cluster in dicts_of(data.get("clusters")):
        stack = cluster.get("stack", fleet_stack)
        if not isinstance(stack, str) or stack not in STACKS:
            continue  # the schema says what is wrong with the stack itself
        used.add(stack)
        settings = cluster.get("settings")
        for key in settings if isinstance(settings, dict) else ():
            if key not in settings_of(stack) and stacks_knowing(key):
                knowing = ", ".join(stacks_knowing(key))
                yield at(
                    ("clusters", ci, "settings", key),
                    f"{key} is a setting of {knowing}, not of {stack} (this cluster's stack)",
                    f"remove it here, or set it on a cluster of {knowing}",
                )
    section = data.get("stack")
    for key in section if isinstance(section, dict) and used else ():
        if not any(key in settings_of(s) for s in used) and stacks_knowing(key):
            knowing = ", ".join(stacks_knowing(key))
            yield at(
                ("stack", key),
                f"{key} is a setting of {knowing}, and no cluster of this fleet runs it",
                f"remove it, or add a cluster of {knowing}",
            )


def _source_problems(sources: Any, cluster_stack: dict[str, Any], at: Any):
    """[[sources]]: the clusters they name exist (and, for a stack's metrics endpoint, are
    of that stack), a node pattern compiles, names are unique."""
    seen: set[str] = set()
    for si, source in dicts_of(sources):
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


def _paging_problems(paging: Any, cluster_stack: dict[str, Any], at: Any):
    """[[paging.rules]]: the clusters they name exist."""
    rules = paging.get("rules") if isinstance(paging, dict) else None
    for ri, rule in dicts_of(rules):
        for cluster in rule.get("clusters") or []:
            if isinstance(cluster, str) and cluster not in cluster_stack:
                yield at(
                    ("paging", "rules", ri, "clusters"),
                    f"cluster {cluster!r} is not defined",
                    "name one of the [[clusters]] of this profile",
                )


def _trust_problems(data: dict[str, Any], at: Any):
    """[trust]: each signal's order names sources the profile has (or ssh)."""
    trust = data.get("trust")
    if not isinstance(trust, dict):
        return
    names = {s.get("name") for _, s in dicts_of(data.get("sources"))} | {"ssh"}
    for signal, order in trust.items():
        for i, name in enumerate(order if isinstance(order, list) else []):
            if isinstance(name, str) and name not in names:
                yield at(
                    ("trust", signal, i),
                    f"{name!r} is not a source of this profile",
                    "name one of: " + ", ".join(sorted(n for n in names if isinstance(n, str))),
                )
