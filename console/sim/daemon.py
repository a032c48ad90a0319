"""The background process behind `fleetdeck sim up`: runs a SimFleet until told to stop.

It takes a free address block (held by a lock socket for its lifetime), starts the fleet,
checks that every node's SSH answers, then writes DIR/ready. A control socket
(DIR/control.sock, HTTP) takes faults, clears and the shutdown. An owned fleet (`--owned`,
DIR/owner naming the console's process) stops by itself once its owner is gone, and
removes DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from console.core.atomic import atomic_write_text
from console.core.gctune import quiet_collector
from console.core.profile import ProfileError, load
from console.sim.control import owner_alive
from console.sim.faults import FAULTS, FaultError
from console.sim.fleet import SimFleet
from console.sim.http import Listener, Request, Response, Router, json_response

BLOCKS = range(20, 240, 2)  # 127.<b>.x.y public and 127.<b+1>.x.y private per fleet


def claim_block() -> tuple[int, socket.socket]:
    """A 127.<b>.0.0/15 pair no other simulated fleet on this machine is using."""
    for block in BLOCKS:
        lock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            lock.bind((f"127.{block + 1}.255.254", 1))
            lock.listen(1)
            return block, lock
        except OSError:
            lock.close()
    raise RuntimeError("no free loopback block for another simulated fleet")


def wait_answering(
    fleet: SimFleet, timeout: float, stop: threading.Event | None = None
) -> list[str]:
    """Names of the nodes whose SSH did not send its banner in time (or by `stop`)."""
    deadline = time.monotonic() + timeout
    pending = dict(fleet.ssh.ports)
    while pending and time.monotonic() < deadline and not (stop and stop.is_set()):
        for name, port in list(pending.items()):
            try:
                with socket.create_connection((fleet.nodes[name].public_address, port), 2) as s:
                    if s.recv(64).startswith(b"SSH-2.0-"):
                        del pending[name]
            except OSError:
                pass
        if pending:
            time.sleep(0.1)
    return sorted(pending)


def control_router(fleet: SimFleet, stop: threading.Event) -> Router:
    r = Router()

    def status(req: Request) -> Response:
        return json_response(
            {
                "pid": os.getpid(),
                "nodes": {
                    name: {
                        "address": n.public_address,
                        "port": fleet.ssh.ports[name],
                        "faults": fleet.active_faults(n),
                        "containers": {c.name: c.state for c in n.containers.snapshot()},
                    }
                    for name, n in fleet.nodes.items()
                },
                "chains": {c: {"height": ch.height()} for c, ch in fleet.chains.items()},
            }
        )

    # handlers run on the event loop; fleet changes open and close listeners on that same
    # loop, so they run in a worker thread
    async def fault(req: Request) -> Response:
        body = req.json() or {}
        try:
            await asyncio.to_thread(fleet.inject, body.get("node", ""), body.get("kind", ""))
        except FaultError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"ok": True})

    async def clear(req: Request) -> Response:
        body = req.json() or {}
        try:
            cleared = await asyncio.to_thread(fleet.clear, body.get("node"), body.get("kind"))
        except FaultError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"cleared": cleared})

    def shutdown(req: Request) -> Response:
        stop.set()
        return json_response({"ok": True})

    r.add("GET", "/status", status)
    r.add(
        "GET", "/faults", lambda req: json_response({k: f.description for k, f in FAULTS.items()})
    )
    r.add("POST", "/fault", fault)
    r.add("POST", "/clear", clear)
    r.add("POST", "/shutdown", shutdown)
    return r


SOCKET_PATH_MAX = 107  # bytes in an AF_UNIX address (Linux's sun_path, less its NUL)


def socket_path_too_long(root: Path, profile) -> str | None:
    """Why the fleet's sockets cannot live under `root`, if they cannot: each node's are
    at nodes/NAME/.sim/systemd.sock (the longest), and a long --dir has no room for them."""
    names = [n.name for c in profile.model.clusters for n in c.nodes] or [""]
    longest = root / "nodes" / max(names, key=len) / ".sim" / "systemd.sock"
    size = len(os.fsencode(longest))
    if size <= SOCKET_PATH_MAX:
        return None
    return (
        f"{root} is too long a directory for the fleet's sockets: {longest} would be "
        f"{size} bytes, and a unix socket's path holds {SOCKET_PATH_MAX}. "
        f"Choose a shorter --dir (by {size - SOCKET_PATH_MAX} bytes at least)."
    )


def run(
    profile_path: str,
    root: Path,
    block_time: float,
    fresh: bool,
    owned: bool = False,
    remove: bool = False,
    epoch_blocks: int = 240,
) -> int:
    root.mkdir(parents=True, exist_ok=True)
    ready = root / "ready"
    ready.unlink(missing_ok=True)
    try:
        profile = load(profile_path)
    except ProfileError as exc:
        (root / "error").write_text(str(exc))
        return 1
    too_long = socket_path_too_long(root, profile)
    if too_long:
        (root / "error").write_text(too_long)
        return 1
    block, lock = claim_block()
    fleet = SimFleet(
        profile,
        root,
        block=block,
        block_time=block_time,
        deployed=not fresh,
        epoch_blocks=epoch_blocks,
        operator_ready=fresh,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    # spawned with SIGINT held (control.up): this daemon takes it again
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    owner = None
    control_path = root / "control.sock"
    control_path.unlink(missing_ok=True)
    try:
        if not fleet.start(stop):  # asked to stop while it started
            return 1
        assert fleet.loop is not None
        control = Listener(fleet.loop, str(control_path), None, control_router(fleet, stop))
        control.start()
        quiet_collector()  # hundreds of nodes' state lives as long as the daemon does
        silent = wait_answering(fleet, timeout=30 + 0.2 * len(fleet.nodes), stop=stop)
        if stop.is_set():  # asked to stop while it started: `sim up` was given up on
            return 1
        if silent:
            (root / "error").write_text(f"nodes not answering: {', '.join(silent)}")
            return 1
        (root / "error").unlink(missing_ok=True)
        # whole or absent: the console reads it as soon as it exists (an empty file, read
        # between its creation and its write, once failed a demo's start)
        atomic_write_text(
            ready, json.dumps({"pid": os.getpid(), "block": block, "nodes": len(fleet.nodes)})
        )
        owner = (root / "owner").read_text().strip() if owned else None
        while not stop.wait(0.5):
            if owner is not None and not owner_alive(owner):
                break  # the console that owns this fleet is gone, however it ended
        control.stop()
    finally:
        fleet.stop()
        lock.close()
        for leftover in (ready, control_path, root / "pid"):
            leftover.unlink(missing_ok=True)
        for node in fleet.nodes.values():
            (node.home / ".sim" / "docker.sock").unlink(missing_ok=True)
        if remove and owner is not None and not owner_alive(owner):
            shutil.rmtree(root, ignore_errors=True)  # nobody is left to remove it
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fleetdeck-sim-daemon")
    parser.add_argument("profile")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--block-time", type=float, default=1.0)
    parser.add_argument("--epoch-blocks", type=int, default=240)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--owned", action="store_true", help="stop when DIR/owner is gone")
    parser.add_argument("--remove", action="store_true", help="then remove DIR")
    args = parser.parse_args(argv)
    (args.dir / "pid").parent.mkdir(parents=True, exist_ok=True)
    (args.dir / "pid").write_text(str(os.getpid()))
    return run(
        args.profile,
        args.dir.resolve(),
        args.block_time,
        args.fresh,
        args.owned,
        args.remove,
        args.epoch_blocks,
    )


if __name__ == "__main__":
    sys.exit(main())
