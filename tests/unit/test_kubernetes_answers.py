"""What a Kubernetes API answers is read as a stranger's data: an answer that is not JSON,
a JSON list, items that are not objects, counts that are not maps, or a `continue` token on
every page is the source's error in words (or, for a field of the wrong shape inside a
node, that field read as absent), never a traceback and never endless paging."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from console.core.sources.kubernetes import read_source
from tests.harness.kubeapi import gke_node


class Answers:
    """A loopback API that answers each GET with the next canned body (the last repeats)."""

    def __init__(self, *bodies: bytes) -> None:
        self.bodies, self.gets = list(bodies), 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = outer.bodies[min(outer.gets, len(outer.bodies) - 1)]
                outer.gets += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kubeconfig(self, tmp_path) -> str:
        path = tmp_path / "kubeconfig"
        url = f"http://127.0.0.1:{self.server.server_address[1]}"
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters:\n- name: c\n  cluster:\n    server: {url}\n"
            "users:\n- name: c\n  user:\n    token: t0ken\n"
            "contexts:\n- name: c\n  context:\n    cluster: c\n    user: c\n"
        )
        return str(path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def node_list(items, token: str = "") -> bytes:
    return json.dumps(
        {"kind": "NodeList", "metadata": {"continue": token}, "items": items}
    ).encode()


@pytest.mark.parametrize(
    ("bodies", "said"),
    [
        ((b"<html>gateway</html>",), "the answer is not JSON"),
        ((b"[1, 2, 3]",), "not a NodeList (list)"),
        ((json.dumps({"kind": "NodeList", "items": [1, "x"]}).encode(),), "not a list of objects"),
        ((json.dumps({"kind": "NodeList", "items": {"a": 1}}).encode(),), "not a list of objects"),
        ((node_list([], token="again"),), "the API gave the same page twice"),
    ],
    ids=["html", "json-list", "items-not-objects", "items-a-map", "endless-paging"],
)
def test_an_answer_of_the_wrong_shape_is_the_sources_error(tmp_path, bodies, said):
    api = Answers(*bodies)
    try:
        read = read_source(api.kubeconfig(tmp_path), None, None, "cloud.google.com/gke-nodepool")
    finally:
        api.stop()
    assert said in read.get("error", ""), read
    assert api.gets <= 2  # the repeated token is caught at the second page


def test_paging_that_never_ends_stops_at_the_bound(tmp_path, monkeypatch):
    from console.core.sources import kubernetes

    monkeypatch.setattr(kubernetes, "MAX_PAGES", 5)
    pages = [node_list([], token=f"t{i}") for i in range(20)]  # a new token every page
    api = Answers(*pages)
    try:
        read = read_source(api.kubeconfig(tmp_path), None, None, "cloud.google.com/gke-nodepool")
    finally:
        api.stop()
    assert "more than 5 pages" in read.get("error", "") and api.gets == 5, read


def test_fields_of_the_wrong_shape_inside_a_node_read_as_absent(tmp_path):
    odd = gke_node("gke-a3-0", "a3", 8, "nvidia-h100-80gb")
    odd["status"]["capacity"] = ["not", "a", "map"]
    odd["status"]["conditions"] = ["Ready"]
    odd["spec"]["taints"] = "none"
    odd["metadata"]["labels"] = None
    good = gke_node("gke-a3-1", "a3", 8, "nvidia-h100-80gb")
    # a taint whose value is a list (found by the fuzz test): read as its text
    good["spec"]["taints"] = [{"key": "gpu", "value": ["a"], "effect": "NoSchedule"}]
    api = Answers(node_list([odd, good]))
    try:
        read = read_source(api.kubeconfig(tmp_path), None, None, "cloud.google.com/gke-nodepool")
    finally:
        api.stop()
    assert "error" not in read, read
    pools = {p["pool"]: p for p in read["pools"]}
    assert pools["a3"]["nodes"] == 1 and pools["a3"]["gpus_capacity"] == 8
    assert pools["(no pool)"]["gpus_capacity"] == 0
    assert pools["(no pool)"]["not_ready"] == [{"node": "gke-a3-0", "why": "no Ready condition"}]


@pytest.mark.parametrize(
    "text",
    ["- a list\n", "42\n", "contexts: [1, 2]\ncurrent-context: c\n"],
    ids=["list", "int", "items"],
)
def test_a_kubeconfig_of_the_wrong_shape_is_named(tmp_path, text):
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    read = read_source(str(path), None, None, "pool")
    assert str(path) in read.get("error", "") and "Traceback" not in read.get("error", "")
