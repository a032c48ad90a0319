"""A terminal a test drives as a person would: one tmux session on a tmux server of the
test's own (its own socket), so that tests running side by side never share a server: a
server exits with its last session, and a session another test started just then went
with it (seen as an empty screen and a demo that never came up)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from tests.conftest import unavailable


class Terminal:
    def __init__(self, name: str) -> None:
        if shutil.which("tmux") is None:
            unavailable("tmux is not installed")
        self.session = f"{name}-{os.getpid()}"
        self.socket = f"fleetdeck-test-{self.session}"

    def tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)

    def start(self, command: str, cwd: Path, width: int = 160, height: int = 40) -> None:
        """`command` in a new session. The server starts with this test's environment, and
        stays up between sessions (it would exit with its last one while the next starts)."""
        self.tmux("start-server", ";", "set-option", "-g", "exit-empty", "off")
        started = self.tmux(
            "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
            "-c", str(cwd), command,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        # what the program printed, kept past its end: a session that ended early shows an
        # empty screen, and its last words (a traceback, an error) are the diagnosis
        self.log = Path(f"/tmp/{self.socket}.log")
        self.tmux("pipe-pane", "-o", "-t", self.session, f"cat >> {self.log}")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def screen(self, history: int = 0) -> str:
        args = ("-S", str(-history)) if history else ()
        return self.tmux("capture-pane", "-p", *args, "-t", self.session).stdout

    def wait_for(self, text: str, timeout: float) -> str:
        """The screen once it shows `text`."""
        return self._wait(lambda screen: text in screen, repr(text), timeout)

    def wait_for_match(self, pattern: str, timeout: float) -> str:
        """The screen once the regular expression `pattern` matches it."""
        return self._wait(lambda screen: re.search(pattern, screen), f"/{pattern}/", timeout)

    def wait_gone(self, text: str, timeout: float) -> str:
        """The screen once it no longer shows `text`."""
        return self._wait(lambda screen: text not in screen, f"{text!r} gone", timeout)

    def _wait(self, seen, what: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        screen = self.screen()
        while not seen(screen):
            if time.monotonic() > deadline:
                ended = "" if self.running() else "\n(the session has ended; its last output:)\n"
                raise AssertionError(
                    f"{what} did not appear within {timeout} s; the screen:\n{screen}"
                    + (ended + self.last_output() if ended else "")
                )
            time.sleep(0.1)
            screen = self.screen()
        return screen

    def last_output(self, chars: int = 3000) -> str:
        """The end of what the program printed, its escape sequences taken out."""
        try:
            raw = self.log.read_bytes()[-20 * chars :].decode(errors="replace")
        except OSError:
            return "(nothing recorded)"
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\r", "", raw)
        return text[-chars:]

    def running(self) -> bool:
        return self.tmux("has-session", "-t", self.session).returncode == 0

    def gone(self, timeout: float) -> bool:
        """Whether the session ended (its program quit) within `timeout`."""
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def pane_pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").stdout)

    def close(self) -> None:
        """The session closed as a window is (its program gets SIGHUP)."""
        self.tmux("kill-session", "-t", self.session)

    def stop(self) -> None:
        """This test's tmux server, whatever it still runs, and its socket (left behind)."""
        path = self.tmux("display-message", "-p", "#{socket_path}").stdout.strip()
        self.tmux("kill-server")
        if path:
            Path(path).unlink(missing_ok=True)
        getattr(self, "log", Path("/nonexistent")).unlink(missing_ok=True)
