"""A Kubernetes cluster's nodes, read from its API server as `kubectl get nodes` reads them:
one paged `GET /api/v1/nodes` (500 a page, `continue` tokens), grouped by node pool (GKE's
`cloud.google.com/gke-nodepool` label by default), with each pool's accelerator capacity
against what is allocatable (each vendor's device plugin resource: its adapter names it),
and the nodes that need someone: NotReady (the kubelet stopped reporting, or reports a
problem), cordoned (`spec.unschedulable`), a device a vendor's health check labels
unhealthy.

Access comes from a kubeconfig (its context's cluster and user): a bearer token or a client
certificate; the server's certificate is verified against the kubeconfig's CA. An `exec`
plugin (gke-gcloud-auth-plugin) is not run: say so, and how to give a token instead.
"""

from __future__ import annotations

import base64
import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

from console.core.accelerators import ACCELERATORS
from console.core.text import printable

# each vendor's device plugin resource -> the vendor
RESOURCES = {a.kube_resource: a.name for a in ACCELERATORS.values() if a.kube_resource}
MODEL_LABELS = [label for a in ACCELERATORS.values() for label in a.kube_model_labels]
PAGE = 500
MAX_PAGES = 400  # 200,000 nodes: an API that pages on past that is answering wrong


class KubeError(Exception):
    pass


@dataclass(frozen=True)
class Access:
    server: str
    token: str | None = None
    ca_data: bytes | None = None  # PEM
    ca_file: str | None = None
    insecure: bool = False
    cert_data: bytes | None = None  # client certificate and key, PEM
    key_data: bytes | None = None
    context: str = ""


@dataclass(frozen=True)
class KubeNode:
    name: str
    pool: str
    gpus_capacity: int
    gpus_allocatable: int
    ready: bool | None  # None: no Ready condition reported
    not_ready_why: str
    cordoned: bool
    accelerator: str
    taints: tuple[str, ...] = ()
    vendor: str = ""  # whose device plugin offers its accelerators
    unhealthy: tuple[int, ...] = ()  # devices its vendor's health check labels unhealthy


@dataclass
class Pool:
    name: str
    nodes: list[KubeNode] = field(default_factory=list)

    @property
    def capacity(self) -> int:
        return sum(n.gpus_capacity for n in self.nodes)

    @property
    def allocatable(self) -> int:
        return sum(n.gpus_allocatable for n in self.nodes)

    @property
    def not_ready(self) -> list[KubeNode]:
        return [n for n in self.nodes if n.ready is not True]

    @property
    def cordoned(self) -> list[KubeNode]:
        return [n for n in self.nodes if n.cordoned]

    @property
    def accelerators(self) -> list[str]:
        return sorted({n.accelerator for n in self.nodes if n.accelerator})


def _data(entry: dict, key: str) -> bytes | None:
    value = entry.get(f"{key}-data")
    return base64.b64decode(value) if value else None


def load_kubeconfig(path: Path, context: str | None = None) -> Access:
    """The cluster and credentials of `context` (the current one when None)."""
    import yaml

    try:
        doc = yaml.safe_load(path.expanduser().read_text()) or {}
    except OSError as exc:
        raise KubeError(f"{path}: cannot read the kubeconfig: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        # where and what only: the YAML library quotes the failing line, which may be the
        # line of a token or a key
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise KubeError(f"{path}{where}: not a kubeconfig (YAML: {problem})") from None
    if not isinstance(doc, dict):
        raise KubeError(f"{path}: not a kubeconfig (a YAML mapping was expected)")
    name = context or doc.get("current-context")

    def named(kind: str, wanted: str | None) -> dict:
        for item in _objects(doc.get(kind)):
            if item.get("name") == wanted:
                return _object(item.get(kind[:-1]))
        have = ", ".join(str(i.get("name")) for i in _objects(doc.get(kind))) or "none"
        raise KubeError(f"{path}: no {kind[:-1]} {wanted!r} (there are: {have})")

    ctx = named("contexts", name)
    cluster, user = named("clusters", ctx.get("cluster")), named("users", ctx.get("user"))
    if "exec" in user or "auth-provider" in user:
        plugin = _object(user.get("exec")).get("command") or "an auth provider"
        raise KubeError(
            f"{path}: context {name!r} authenticates with {plugin}, which fleetdeck does not "
            "run: give the context a service account's token (`token:`) instead"
        )
    server = str(cluster.get("server") or "")
    if not server.startswith(("https://", "http://")):
        raise KubeError(f"{path}: cluster of context {name!r} has no server URL")
    ca_file = cluster.get("certificate-authority")
    return Access(
        server=server.rstrip("/"),
        token=user.get("token"),
        ca_data=_data(cluster, "certificate-authority"),
        ca_file=str(Path(ca_file).expanduser()) if ca_file else None,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_data=_data(user, "client-certificate"),
        key_data=_data(user, "client-key"),
        context=str(name),
    )


@contextlib.contextmanager
def client(access: Access, timeout: float = 15.0) -> Iterator[httpx.Client]:
    """An HTTP client for the API server. Key material never touches a disk: the CA is
    given to the TLS context from memory, and the client certificate and key pass through
    anonymous memory files (memfd) only while the context loads them, so no signal, not
    even SIGKILL, can leave a key behind."""
    headers = {"Accept": "application/json"}
    if access.token:
        headers["Authorization"] = f"Bearer {access.token}"
    with httpx.Client(
        base_url=access.server, verify=tls_context(access), headers=headers, timeout=timeout
    ) as c:
        yield c


def tls_context(access: Access) -> ssl.SSLContext:
    """The TLS context for `access`: its CA (data or file) or none checked (insecure), and
    its client certificate, loaded from memory."""
    if access.ca_data:
        context = ssl.create_default_context(cadata=access.ca_data.decode("ascii", "replace"))
    elif access.ca_file:
        context = ssl.create_default_context(cafile=access.ca_file)
    else:
        context = ssl.create_default_context()
    if access.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if access.cert_data and access.key_data:
        with _in_memory(access.cert_data) as cert, _in_memory(access.key_data) as key:
            try:
                context.load_cert_chain(cert, key, password=b"")  # never a prompt
            except ssl.SSLError as exc:
                raise KubeError(
                    f"context {access.context!r}: the client certificate or key cannot be "
                    f"used ({exc.reason or exc})"
                ) from None
    return context


@contextlib.contextmanager
def _in_memory(data: bytes) -> Iterator[str]:
    """A path to `data` that lives in memory only (Linux memfd), closed when done. Where
    there is no memfd (macOS), a 0600 file in a 0700 directory for the milliseconds the
    TLS context takes to read it."""
    if not hasattr(os, "memfd_create"):
        with tempfile.TemporaryDirectory(prefix="fleetdeck-kube-") as tmp:
            path = os.path.join(tmp, "pem")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            yield path
        return
    fd = os.memfd_create("fleetdeck-kube", os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def list_nodes(access: Access, selector: str | None = None) -> list[dict]:
    """Every node, page by page."""
    return _list(access, "/api/v1/nodes", "NodeList", "nodes", selector)


def list_pods(access: Access, namespace: str, selector: str | None = None) -> list[dict]:
    """Every pod of a namespace, page by page."""
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
    return _list(access, path, "PodList", f"pods in {namespace}", selector)


def _list(access: Access, path: str, kind: str, what: str, selector: str | None) -> list[dict]:
    """Every item, page by page: at most MAX_PAGES pages, and an answer of the wrong shape
    (not JSON, not the list asked for, items that are not objects) is the source's error."""
    items: list[dict] = []
    token = ""
    seen: set[str] = set()
    with client(access) as c:
        for _ in range(MAX_PAGES):
            params = {"limit": str(PAGE)}
            if token:
                params["continue"] = token
            if selector:
                params["labelSelector"] = selector
            try:
                r = c.get(path, params=params)
            except httpx.HTTPError as exc:
                raise KubeError(f"{access.server}: {type(exc).__name__}: {exc}") from None
            if r.status_code != 200:
                try:
                    said = r.json().get("message") or r.text
                except (ValueError, AttributeError):
                    said = r.text
                raise KubeError(
                    f"{access.server}: {what}: HTTP {r.status_code} {printable(str(said))[:160]}"
                )
            try:
                body = r.json()
            except ValueError:
                raise KubeError(f"{access.server}: {what}: the answer is not JSON") from None
            if not isinstance(body, dict) or body.get("kind") != kind:
                got = body.get("kind") if isinstance(body, dict) else type(body).__name__
                raise KubeError(
                    f"{access.server}: {what}: not a {kind} ({printable(str(got))[:40]})"
                )
            page = body.get("items") or []
            if not isinstance(page, list) or not all(isinstance(i, dict) for i in page):
                raise KubeError(f"{access.server}: {what}: its items are not a list of objects")
            items += page
            token = str(_object(body.get("metadata")).get("continue") or "")
            if not token:
                return items
            if token in seen:
                raise KubeError(f"{access.server}: {what}: the API gave the same page twice")
            seen.add(token)
    raise KubeError(
        f"{access.server}: {what}: more than {MAX_PAGES} pages of {PAGE}; "
        "narrow it with a label selector"
    )


def _object(value: object) -> dict:
    """A field that must be a JSON object: anything else reads as empty."""
    return value if isinstance(value, dict) else {}


def _objects(value: object) -> list[dict]:
    """A field that must be a list of objects: what is not an object is left out."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def pod_containers(item: dict) -> tuple[str, list[dict]]:
    """(the node it runs on, its containers in the probe's shape: name `pod/container`,
    state running / restarting (CrashLoopBackOff) / waiting / exited, health from
    readiness, restarts, started_at, exit code)."""
    meta, spec, status = (_object(item.get(k)) for k in ("metadata", "spec", "status"))
    pod = str(meta.get("name", "?"))
    images = {str(c.get("name")): c.get("image") for c in _objects(spec.get("containers"))}
    out = []
    for cs in _objects(status.get("containerStatuses")):
        state = _object(cs.get("state"))
        started = exit_code = None
        if "running" in state:
            word = "running"
            started = _object(state["running"]).get("startedAt")
        elif "terminated" in state:
            word = "exited"
            exit_code = _object(state["terminated"]).get("exitCode")
        else:
            reason = str(_object(state.get("waiting")).get("reason") or "waiting")
            word = "restarting" if reason == "CrashLoopBackOff" else f"waiting: {reason}"
        if exit_code is None:
            exit_code = _object(_object(cs.get("lastState")).get("terminated")).get("exitCode")
        name = str(cs.get("name", "?"))
        out.append(
            {
                "name": f"{pod}/{name}",
                "image": str(cs.get("image") or images.get(name) or "") or None,
                "state": word,
                "health": "healthy" if cs.get("ready") else "unhealthy",
                "restarts": _int(cs.get("restartCount")),
                "started_at": started,
                "exit_code": exit_code,
            }
        )
    return str(spec.get("nodeName") or ""), out


def _count(resources: object) -> int:
    """The node's accelerators of every vendor's device plugin."""
    listed = _object(resources)
    return sum(_int(listed.get(resource, "0")) for resource in RESOURCES)


def _vendor(resources: object) -> str:
    listed = _object(resources)
    return next((v for r, v in RESOURCES.items() if _int(listed.get(r, "0"))), "")


def _unhealthy(labels: dict, vendor: str) -> tuple[int, ...]:
    """The devices its vendor's health check labels unhealthy (`…gpu.3.state=unhealthy`)."""
    pattern, bad = ACCELERATORS[vendor].kube_unhealthy_label if vendor else ("", "")
    if not pattern:
        return ()
    head, _, tail = pattern.partition("{n}")
    out = []
    for key, value in labels.items():
        n = (
            key[len(head) : len(key) - len(tail)]
            if key.startswith(head) and key.endswith(tail)
            else ""
        )
        if n.isdigit() and value == bad:
            out.append(int(n))
    return tuple(sorted(out))


def _int(value: object) -> int:
    """A count as Kubernetes writes it (a number, or a quantity string); 0 when it is not."""
    try:
        return max(0, int(str(value or 0)))
    except ValueError:
        return 0


def node_of(item: dict, pool_label: str) -> KubeNode:
    meta, spec, status = (_object(item.get(k)) for k in ("metadata", "spec", "status"))
    labels = _object(meta.get("labels"))
    ready = next((c for c in _objects(status.get("conditions")) if c.get("type") == "Ready"), None)
    ok = None if ready is None else ready.get("status") == "True"
    why = (
        ""
        if ok
        else (
            f"{ready.get('reason') or ready.get('status')}: {ready.get('message') or ''}".strip(
                ": "
            )
            if ready
            else "no Ready condition"
        )
    )
    taints = tuple(
        f"{t.get('key')}{'=' + str(t['value']) if t.get('value') else ''}:{t.get('effect')}"
        for t in _objects(spec.get("taints"))
    )
    vendor = _vendor(status.get("capacity"))
    return KubeNode(
        name=str(meta.get("name") or "?"),
        pool=str(labels.get(pool_label) or "(no pool)"),
        gpus_capacity=_count(status.get("capacity")),
        gpus_allocatable=_count(status.get("allocatable")),
        ready=ok,
        not_ready_why=why,
        cordoned=bool(spec.get("unschedulable")),
        accelerator=str(
            labels.get("cloud.google.com/gke-accelerator")
            or next((labels[m] for m in MODEL_LABELS if labels.get(m)), "")
        ),
        taints=taints,
        vendor=vendor,
        unhealthy=_unhealthy(labels, vendor),
    )


def pools_of(items: list[dict], pool_label: str) -> list[Pool]:
    pools: dict[str, Pool] = {}
    for item in items:
        node = node_of(item, pool_label)
        pools.setdefault(node.pool, Pool(node.pool)).nodes.append(node)
    for pool in pools.values():
        pool.nodes.sort(key=lambda n: n.name)
    return sorted(pools.values(), key=lambda p: p.name)


def read_source(
    kubeconfig: str, context: str | None, selector: str | None, pool_label: str
) -> dict:
    """One source's pools as plain data (what `pools --json` prints and the console shows);
    `error` instead when it cannot be read."""
    try:
        access = load_kubeconfig(Path(kubeconfig), context)
        pools = pools_of(list_nodes(access, selector), pool_label)
    except KubeError as exc:
        return {"error": str(exc)}
    return {
        "context": access.context,
        "pools": [
            {
                "pool": p.name,
                "nodes": len(p.nodes),
                "ready": len(p.nodes) - len(p.not_ready),
                "gpus_capacity": p.capacity,
                "gpus_allocatable": p.allocatable,
                "accelerators": p.accelerators,
                "not_ready": [{"node": n.name, "why": n.not_ready_why} for n in p.not_ready],
                "cordoned": [n.name for n in p.cordoned],
            }
            for p in pools
        ],
    }


def pools_lines(name: str, doc: dict) -> list[tuple[str, str]]:
    """(style kind, text) lines of one source, for the terminal and the console alike:
    kind is "head", "row", "bad" (NotReady), "warn" (cordoned) or "error"."""
    if "error" in doc:
        return [("error", f"✕ {name}: {doc['error']}")]
    pools = doc["pools"]
    total = sum(p["nodes"] for p in pools)
    out = [
        ("head", f"{name} (context {doc['context']}): {len(pools)} pools, {total} nodes"),
        (
            "head",
            f"  {'POOL':<22}{'NODES':>6}{'READY':>7}{'CORDONED':>10}  GPUS ALLOC/CAP  ACCELERATOR",
        ),
    ]
    for p in pools:
        short = " !" if p["gpus_allocatable"] < p["gpus_capacity"] else "  "
        gpus = f"{p['gpus_allocatable']}/{p['gpus_capacity']}"
        out.append(
            (
                "row",
                f"  {p['pool']:<22}{p['nodes']:>6}{p['ready']:>7}{len(p['cordoned']):>10}  "
                f"{gpus:>14}{short} {', '.join(p['accelerators']) or '-'}",
            )
        )
        out += [("bad", f"    ✕ {n['node']}  NotReady: {n['why']}") for n in p["not_ready"]]
        out += [("warn", f"    ~ {n}  cordoned (unschedulable)") for n in p["cordoned"]]
    return out
