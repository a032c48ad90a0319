"""A fake Kubernetes API server for nodes and pods, on loopback: no kube-apiserver, kind,
k3s or kwok can be installed on the test machine (operations.md §6), so this serves what
`GET /api/v1/nodes` and `GET /api/v1/namespaces/NS/pods` serve, in the real NodeList and
PodList shapes (metadata.continue paging, a page capped by the server as the real one may,
labelSelector k=v, a bearer token, 401 as a Status), over plain HTTP, or over HTTPS with
a client certificate required (`tls`: a tests/harness/tlscerts.py authority)."""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MAX_PAGE = 120  # the server's own cap: a client asking for 500 gets pages of 120


def gke_node(name: str, pool: str, gpus: int, accelerator: str, **state) -> dict:
    """A GKE GPU node as the API server returns it (`resource`: its device plugin's, for a
    Gaudi's `habana.ai/gaudi` or an AMD's `amd.com/gpu`; `labels`: more of its labels)."""
    allocatable = state.get("allocatable", gpus)
    resource = state.get("resource", "nvidia.com/gpu")
    ready = state.get("ready", "True")
    node = {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": "4711",
            "creationTimestamp": "2026-11-20T08:00:00Z",
            "labels": {
                "kubernetes.io/hostname": name,
                "cloud.google.com/gke-nodepool": pool,
                "cloud.google.com/gke-accelerator": accelerator,
                "node.kubernetes.io/instance-type": "a3-highgpu-8g",
                "topology.kubernetes.io/zone": "us-central1-a",
                **state.get("labels", {}),
            },
        },
        "spec": {
            "podCIDR": "10.4.0.0/24",
            "providerID": f"gce://proj/us-central1-a/{name}",
            "taints": [{"key": resource, "value": "present", "effect": "NoSchedule"}],
        },
        "status": {
            "capacity": {"cpu": "208", "memory": "1891186140Ki", resource: str(gpus)},
            "allocatable": {
                "cpu": "207690m",
                "memory": "1860405724Ki",
                resource: str(allocatable),
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": ready,
                    "lastHeartbeatTime": "2026-11-29T12:00:00Z",
                    "lastTransitionTime": "2026-11-29T11:00:00Z",
                    "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
                    "message": "kubelet is posting ready status"
                    if ready == "True"
                    else "Kubelet stopped posting node status.",
                }
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.30.5-gke.1014001",
                "osImage": "Container-Optimized OS",
            },
        },
    }
    if state.get("cordoned"):
        node["spec"]["unschedulable"] = True
        node["spec"]["taints"].append(
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
        )
    return node


def gke_pod(name: str, node: str, namespace: str = "inference", **state) -> dict:
    """A vLLM pod as the API server returns it (one container, `vllm`): running and ready,
    or `crash=N` (CrashLoopBackOff after N restarts, its last exit code 1) or `pull=True`
    (ImagePullBackOff)."""
    image = "vllm/vllm-openai:v0.11.0"
    cs: dict = {
        "name": "vllm",
        "image": image,
        "imageID": "docker.io/vllm/vllm-openai@sha256:" + "ab" * 32,
        "containerID": f"containerd://{name}",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": "2026-11-29T08:00:00Z"}},
    }
    if state.get("crash"):
        reason = "back-off 5m0s restarting failed container=vllm"
        cs.update(
            ready=False,
            started=False,
            restartCount=state["crash"],
            state={"waiting": {"reason": "CrashLoopBackOff", "message": reason}},
            lastState={"terminated": {"exitCode": 1, "reason": "Error"}},
        )
    if state.get("pull"):
        cs.update(
            ready=False,
            started=False,
            containerID=None,
            state={"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling"}},
        )
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "labels": {"app": "vllm"},
        },
        "spec": {"nodeName": node, "containers": [{"name": "vllm", "image": image}]},
        "status": {"phase": "Running", "containerStatuses": [cs]},
    }


@dataclass
class FakeKubeApi:
    token: str
    nodes: list[dict] = field(default_factory=list)
    pods: list[dict] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # each request's path and query
    server: ThreadingHTTPServer | None = None
    tls: object | None = None  # a tlscerts.TestCa: HTTPS, the client's certificate required
    hold: threading.Event | None = None  # when given, each request waits until it is set

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def start(self) -> FakeKubeApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                api.requests.append(self.path)
                if api.hold is not None:
                    api.hold.wait(60)
                url = urlsplit(self.path)
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    self.send(401, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                    "status": "Failure", "message": "Unauthorized",
                                    "reason": "Unauthorized", "code": 401})  # fmt: skip
                    return
                parts = url.path.strip("/").split("/")
                if url.path == "/api/v1/nodes":
                    kind, items = "NodeList", api.nodes
                elif (
                    len(parts) == 5
                    and parts[:3] == ["api", "v1", "namespaces"]
                    and (parts[4] == "pods")
                ):
                    kind = "PodList"
                    items = [p for p in api.pods if p["metadata"]["namespace"] == parts[3]]
                else:
                    missing = "the server could not find the requested resource"
                    self.send(404, {"kind": "Status", "status": "Failure", "code": 404,
                                    "message": missing})  # fmt: skip
                    return
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                if "labelSelector" in q:
                    key, _, value = q["labelSelector"].partition("=")
                    items = [n for n in items if n["metadata"]["labels"].get(key) == value]
                start = int(q.get("continue") or 0)
                size = min(int(q.get("limit") or len(items) or 1), MAX_PAGE)
                page = items[start : start + size]
                more = start + size < len(items)
                self.send(200, {"kind": kind, "apiVersion": "v1",
                                "metadata": {"resourceVersion": "4711",
                                             **({"continue": str(start + size)} if more else {})},
                                "items": page})  # fmt: skip

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self.server.socket = self._tls_context().wrap_socket(
                self.server.socket, server_side=True
            )
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def _tls_context(self) -> ssl.SSLContext:
        tls = self.tls
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.verify_mode = ssl.CERT_REQUIRED  # a client certificate of our CA, or no TLS
        context.load_verify_locations(cadata=tls.ca.cert.decode())
        with tempfile.TemporaryDirectory() as tmp:  # the server's own key: a test's
            cert, key = Path(tmp, "server.pem"), Path(tmp, "server.key")
            cert.write_bytes(tls.server.cert)
            key.write_bytes(tls.server.key)
            context.load_cert_chain(cert, key)
        return context

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def kubeconfig(self, context: str = "gke_proj_us-central1_fleet") -> str:
        return (
            "apiVersion: v1\nkind: Config\n"
            f"current-context: {context}\n"
            f"clusters:\n- name: {context}\n  cluster:\n    server: {self.url}\n{self._ca()}"
            f"users:\n- name: {context}\n  user:\n    token: {self.token}\n{self._client_cert()}"
            f"contexts:\n- name: {context}\n  context:\n    cluster: {context}\n"
            f"    user: {context}\n"
        )

    def _ca(self) -> str:
        if self.tls is None:
            return ""
        return f"    certificate-authority-data: {_b64(self.tls.ca.cert)}\n"

    def _client_cert(self) -> str:
        if self.tls is None:
            return ""
        return (
            f"    client-certificate-data: {_b64(self.tls.client.cert)}\n"
            f"    client-key-data: {_b64(self.tls.client.key)}\n"
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
