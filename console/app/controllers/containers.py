"""Containers of a node: follow a log, restart, stop (Docker SDK over the node's SSH
connection); restart and stop after the container's name is typed, and journalled."""

from __future__ import annotations

import collections
import time

from console.app.controllers import Controller


def wait_running(
    api, container: str, state: dict, stream: dict, seconds: float = 30, gap: float = 5
) -> bool:
    """Whether a container whose log stream ended runs again: wait while it restarts, and
    a few seconds while it is stopped (a restart stops, then starts it)."""
    started = time.monotonic()
    while state.get("Status") != "running":
        waited = time.monotonic() - started
        limit = seconds if state.get("Status") == "restarting" else gap
        if stream.get("closed") or waited >= limit:
            return False
        time.sleep(0.25)
        state = api.inspect_container(container)["State"]
    return True


class Containers(Controller):
    def act(self, node: str, container: str, kind: str) -> None:
        """`logs`, `restart` or `stop` of a container, as the screens ask for it."""
        app = self.app
        if app.pool is None:
            app.notify("Not connected: containers need the live console.", markup=False)
            return
        if kind == "logs":
            from screens.logs import LogScreen

            screen = LogScreen(node, container, collections.deque(maxlen=20_000))
            stream: dict = {}

            def closed(_: None) -> None:
                stream["closed"] = True
                api = stream.get("api")
                if api is not None:
                    api.close()  # ends the blocking read of the follow

            app.push_screen(screen, closed)
            self.worker(self._tail_logs, node, container, screen, stream, group="logs")
            return
        if app.read_only:
            app.notify(f"Read-only: {kind} is disabled.", severity="warning", markup=False)
            return
        what = f"{kind.capitalize()} container {container} on node {node}"
        self.confirmed_change(  # the container's name: it names what is hit
            node,
            what,
            container,
            lambda forced: self.worker(self._do, node, container, kind, forced, group="containers"),
        )

    def _tail_logs(self, node: str, container: str, screen, stream: dict) -> None:
        """Follow a container's log, each line with its time; when the stream ends while
        the container comes back (a restart), follow it again from where it stopped."""
        from console.core.secrets import REDACTOR
        from console.core.transport.dockerremote import docker_api, log_lines, split_stamp

        reason = "end of the log stream (the engine closed it)"
        since: float | None = None
        try:
            api = docker_api(self.app.pool, node)
            stream["api"] = api
            started = api.inspect_container(container)["State"].get("StartedAt")
            while not stream.get("closed"):
                lines = log_lines(
                    api,
                    container,
                    tail=500 if since is None else "all",
                    since=since,
                    timestamps=True,
                )
                for line in lines:
                    if stream.get("closed"):
                        return
                    at, text = split_stamp(line)
                    if at is not None:
                        since = at + 1e-6  # a reattach starts after the last line shown
                        text = f"{time.strftime('%H:%M:%S', time.localtime(at))} {text}"
                    screen.feed.append(REDACTOR.redact(text))
                state = api.inspect_container(container)["State"]
                if not wait_running(api, container, state, stream):
                    reason = (
                        f"{container} is {state.get('Status')} (exit {state.get('ExitCode')}): "
                        "its log ends here"
                    )
                    break
                since = since or time.time()
                time.sleep(1)  # never a hot loop, whatever ended the stream
                now = api.inspect_container(container)["State"].get("StartedAt")
                if now != started:  # a new run of it, not just a stream the engine ended
                    started = now
                    screen.feed.append(f"— {container} restarted: following its log again —")
        except Exception as exc:  # the screen says why the stream ended; the app goes on
            reason = f"log stream ended: {REDACTOR.redact(str(exc))[:200]}"
        if not stream.get("closed"):
            self.app.call_from_thread(screen.end, reason)

    def _do(self, node: str, container: str, kind: str, forced: str = "") -> None:
        """`forced`: the note of a change forced through its stack's hold, for the journal."""
        from console.core.transport.dockerremote import docker_api

        try:
            api = docker_api(self.app.pool, node)
            getattr(api, kind)(container, timeout=10)  # seconds to stop before SIGKILL
            api.close()
        except Exception as exc:
            said = f"{exc}; {forced}" if forced else str(exc)
            self.app.trail.record(node, kind, container, "failed", said)
            self.say(f"{kind} {container} on {node} failed: {exc}", severity="error")
            return
        self.app.trail.record(node, kind, container, "done", forced)
        self.say(f"{container} on {node}: {kind} done")
