"""An emulated Docker Engine API (v1.41 shapes) on a node's docker socket.

For machines with no dockerd (a laptop running the demo): enough of the API for what
fleetdeck uses: ping, version, container list/inspect/logs/start/stop/restart/create/remove,
events, image list and pull. The Docker SDK reaches it over `ssh://` through the node's
`docker system dial-stdio`, as it would reach a real engine.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from typing import TYPE_CHECKING

from console.sim import gpus as simgpus
from console.sim.containers import image_id
from console.sim.http import Request, Response, Router, json_response, text_response

if TYPE_CHECKING:
    from console.sim.node import SimNode

API_VERSION = "1.41"
ENGINE_VERSION = "20.10.24+dfsg1"
V = r"(?:/v[0-9.]+)?"  # every path may carry an API version prefix


def _no_such(ref: str) -> Response:
    return json_response({"message": f"No such container: {ref}"}, 404)


def _filters(req: Request) -> dict[str, list[str]]:
    raw = req.query.get("filters")
    if not raw:
        return {}
    data = json.loads(raw)
    # the API accepts {"label": ["a=b"]} and the older {"label": {"a=b": true}}
    return {
        k: list(v) if isinstance(v, list) else [x for x, on in v.items() if on]
        for k, v in data.items()
    }


def _matches(summary: dict, filters: dict[str, list[str]]) -> bool:
    for value in filters.get("label", []):
        key, eq, want = value.partition("=")
        labels = summary["Labels"]
        if key not in labels or (eq and labels[key] != want):
            return False
    names = filters.get("name", [])
    if names and not any(n.lstrip("/") in summary["Names"][0] for n in names):
        return False
    status = filters.get("status", [])
    return not status or summary["State"] in status


def frame(stream: str, line: str) -> bytes:
    """The multiplexed log stream of a non-TTY container: 8-byte header, then the payload."""
    payload = line.encode()
    return struct.pack(">BxxxL", 1 if stream == "stdout" else 2, len(payload)) + payload


# in .sim/: the NVIDIA container toolkit is not installed (or not registered with docker)
NO_NVIDIA_RUNTIME = "no-nvidia-runtime"
NO_HABANA_RUNTIME = "no-habana-runtime"
# the variables through which a vendor's runtime (or ROCm) is told a container's devices
VISIBLE = ("HABANA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES")


def docker_router(node: SimNode) -> Router:
    r = Router()
    cs = node.containers

    def version(req: Request) -> Response:
        return json_response(
            {
                "Platform": {"Name": ""},
                "Version": ENGINE_VERSION,
                "ApiVersion": API_VERSION,
                "MinAPIVersion": "1.12",
                "GitCommit": "5d6db84",
                "GoVersion": "go1.19.8",
                "Os": "linux",
                "Arch": "amd64",
                "KernelVersion": "6.1.0-fleetdeck-sim",
                "BuildTime": "2023-05-23T00:00:00.000000000+00:00",
                "Components": [
                    {
                        "Name": "Engine",
                        "Version": ENGINE_VERSION,
                        "Details": {"ApiVersion": API_VERSION},
                    }
                ],
            }
        )

    def info(req: Request) -> Response:
        items = cs.snapshot()
        return json_response(
            {
                "ID": node.name,
                "Containers": len(items),
                "Name": node.name,
                "ContainersRunning": sum(c.state == "running" for c in items),
                "ServerVersion": ENGINE_VERSION,
                "OperatingSystem": "Ubuntu 22.04.4 LTS",
                "Runtimes": runtimes(node),
                "DefaultRuntime": "runc",
                "NCPU": 96,
                "MemTotal": 2_164_000_000_000,
            }
        )

    def listing(req: Request) -> Response:
        show_all = req.query.get("all") in ("1", "true", "True")
        filters = _filters(req)
        out = [c.summary() for c in cs.snapshot() if show_all or c.state == "running"]
        return json_response([s for s in out if _matches(s, filters)])

    def inspect(req: Request) -> Response:
        c = cs.get(req.params["id"])
        return json_response(c.inspect()) if c else _no_such(req.params["id"])

    def logs(req: Request) -> Response:
        c = cs.get(req.params["id"])
        if c is None:
            return _no_such(req.params["id"])
        want = {s for s in ("stdout", "stderr") if req.query.get(s) in ("1", "true", "True")}
        lines = [(t, s, line) for t, s, line in c.logs if s in want]
        tail = req.query.get("tail", "all")
        if tail.isdigit():
            lines = lines[-int(tail) :] if int(tail) else []
        since = float(req.query.get("since", "0") or 0)
        stamps = req.query.get("timestamps") in ("1", "true", "True")
        body = b"".join(
            frame(s, (_stamp(t) + " " if stamps else "") + line + "\n")
            for t, s, line in lines
            if t >= since
        )
        return Response(200, body, "application/vnd.docker.raw-stream")

    def action(kind: str):
        async def handler(req: Request) -> Response:
            # starting or stopping opens or closes listeners on this very loop: a thread
            return await asyncio.to_thread(act, req)

        def act(req: Request) -> Response:
            c = cs.get(req.params["id"])
            if c is None:
                return _no_such(req.params["id"])
            missing = missing_devices(c.devices, node) if kind != "stop" else []
            if kind == "start":
                if c.state == "running":
                    return Response(304, b"", "text/plain")
                if missing:  # the NVIDIA runtime's hook refuses it, in its words
                    return json_response({"message": DEVICE_ERROR.format(missing[0])}, 500)
                cs.start(c.name)
            elif kind == "stop":
                if c.state != "running":
                    return Response(304, b"", "text/plain")
                cs.stop(c.name, 0)
            elif kind == "restart":
                cs.stop(c.name, 0)
                if missing:
                    node.after_container_change(c.name)
                    return json_response({"message": DEVICE_ERROR.format(missing[0])}, 500)
                c.restart_count += 0  # a manual restart is not counted by the engine
                cs.start(c.name)
            node.after_container_change(c.name)
            return Response(204, b"", "text/plain")

        return handler

    def create(req: Request) -> Response:
        name = req.query.get("name") or ""
        body = req.json() or {}
        if not name:
            return json_response({"message": "the simulator needs a container name"}, 400)
        if cs.get(name) is not None:
            return json_response(
                {"message": f'Conflict. The container name "/{name}" is already in use'}, 409
            )
        host_config = body.get("HostConfig") or {}
        runtime = host_config.get("Runtime")
        if runtime and runtime not in runtimes(node):  # docker's own words
            return json_response({"message": f"unknown or invalid runtime name: {runtime}"}, 400)
        c = cs.create(name, body.get("Image"), port_bindings(body))
        visible = [
            e.split("=", 1)[1] for e in body.get("Env") or () if e.split("=", 1)[0] in VISIBLE
        ]
        c.devices = tuple(
            str(d)
            for request in host_config.get("DeviceRequests") or ()
            for d in request.get("DeviceIDs") or ()
        ) + tuple(d for v in visible for d in v.split(",") if d)
        c.network_mode = str(host_config.get("NetworkMode") or "default")
        return json_response({"Id": c.id, "Warnings": []}, 201)

    async def remove(req: Request) -> Response:
        return await asyncio.to_thread(remove_now, req)

    def remove_now(req: Request) -> Response:
        c = cs.get(req.params["id"])
        if c is None:
            return _no_such(req.params["id"])
        if c.state == "running" and req.query.get("force") not in ("1", "true", "True"):
            return json_response(
                {
                    "message": f"You cannot remove a running container "
                    f"{c.id}. Stop the container before attempting removal or "
                    "force remove"
                },
                409,
            )
        cs.remove(c.name)
        node.after_container_change(c.name)
        return Response(204, b"", "text/plain")

    def events(req: Request) -> Response:
        since = float(req.query.get("since", "0") or 0)
        until = float(req.query.get("until", str(time.time())) or time.time())
        lines = [json.dumps(e) + "\n" for e in list(cs.events) if since <= e["time"] <= until]
        return Response(200, "".join(lines).encode(), "application/json")

    def images(req: Request) -> Response:
        seen = sorted({c.image for c in cs.snapshot()} | set(node.pulled_images))
        return json_response(
            [
                {
                    "Id": image_id(i),
                    "RepoTags": [i],
                    "Created": int(node.started),
                    "Size": 1 << 30,
                    "Labels": {},
                    "Containers": -1,
                }
                for i in seen
            ]
        )

    def pull(req: Request) -> Response:
        image = req.query.get("fromImage", "")
        tag = req.query.get("tag")
        ref = f"{image}:{tag}" if tag and ":" not in image.rsplit("/", 1)[-1] else image
        node.pulled_images.add(ref)
        body = "".join(
            json.dumps(x) + "\n"
            for x in (
                {"status": f"Pulling from {image}", "id": tag or "latest"},
                {"status": "Digest: sha256:" + "0" * 64},
                {"status": f"Status: Image is up to date for {ref}"},
            )
        )
        return Response(200, body.encode(), "application/json")

    r.add("GET", f"{V}/_ping", lambda req: text_response("OK"))
    r.add("GET", f"{V}/version", version)
    r.add("GET", f"{V}/info", info)
    r.add("GET", f"{V}/containers/json", listing)
    r.add("POST", f"{V}/containers/create", create)
    r.add("GET", f"{V}/containers/:id/json", inspect)
    r.add("GET", f"{V}/containers/:id/logs", logs)
    r.add("POST", f"{V}/containers/:id/start", action("start"))
    r.add("POST", f"{V}/containers/:id/stop", action("stop"))
    r.add("POST", f"{V}/containers/:id/restart", action("restart"))
    r.add("DELETE", f"{V}/containers/:id", remove)
    r.add("GET", f"{V}/events", events)
    r.add("GET", f"{V}/images/json", images)
    r.add("POST", f"{V}/images/create", pull)
    return r


# what `docker start` says when a requested GPU is not there (nvidia-container-toolkit)
DEVICE_ERROR = (
    "failed to create task for container: failed to create shim task: OCI runtime create "
    "failed: runc create failed: unable to start container process: error during container "
    "init: error running hook #0: error running hook: exit status 1, stdout: , stderr: "
    "Auto-detected mode as 'legacy'\nnvidia-container-cli: device error: {}: unknown device: "
    "unknown"
)


def runtimes(node: SimNode) -> dict[str, dict]:
    """The node's docker runtimes: its devices' vendor's, unless a fault took it away."""
    out = {"runc": {"path": "runc"}}
    vendor = simgpus.vendor_of(node.gpu_type)
    if vendor == "nvidia" and not (node.home / ".sim" / NO_NVIDIA_RUNTIME).exists():
        out["nvidia"] = {"path": "nvidia-container-runtime"}
    if vendor == "gaudi" and not (node.home / ".sim" / NO_HABANA_RUNTIME).exists():
        out["habana"] = {"path": "/usr/bin/habana-container-runtime"}
    return out


def missing_devices(devices: tuple[str, ...], node: SimNode) -> list[str]:
    """The requested device ids (indexes or UUIDs) of GPUs the node does not see now."""
    if not devices:
        return []
    seen = node.gpu_snapshot().visible
    have = {str(g.index) for g in seen} | {g.uuid for g in seen}
    return [d for d in devices if d not in have]


def port_bindings(body: dict) -> tuple[tuple[int, str, int], ...] | None:
    """HostConfig.PortBindings of a create request as (container port, host IP, host port);
    None when the request names none (the image's compose defaults then)."""
    bindings = (body.get("HostConfig") or {}).get("PortBindings")
    if bindings is None:
        return None
    out = []
    for key, hosts in bindings.items():
        port = key.partition("/")[0]
        for h in hosts or []:
            if port.isdigit() and str(h.get("HostPort", "")).isdigit():
                out.append((int(port), h.get("HostIp") or "0.0.0.0", int(h["HostPort"])))  # noqa: S104
    return tuple(out)


def _stamp(t: float) -> str:
    from console.sim.chain import rfc3339

    return rfc3339(t)
