"""OpenSSH test hosts: one real sshd per host, each on its own loopback address.

Every host has its own host key, the shared authorized test key, and a sandbox directory
that acts as the host's home: sessions start there with HOME pointing at it and the
sandbox's `bin/` first on PATH, so several "machines" with their own tools run on one box.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness.procs import descendants, free_port, port_open, stop, wait_for

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"

# sshd runs this for every session (ForceCommand): record the command line (tests read
# it: what a process list on the host would have shown), start in the sandbox, then run
# what the client asked for, or a login shell.
_SESSION = """#!/bin/sh
printf '%s\\n' "$SSH_ORIGINAL_COMMAND" >> {log}
cd "$HOME" || exit 1
if [ -z "$SSH_ORIGINAL_COMMAND" ]; then exec /bin/sh -l; fi
exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
"""


def keygen(path: Path, comment: str = "fleetdeck-test") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True
    )
    return path


@dataclass
class SshHost:
    name: str
    address: str
    port: int
    sandbox: Path  # the host's home
    host_key_pub: str  # "ssh-ed25519 AAAA…"
    proc: subprocess.Popen | None = None
    config: Path | None = None
    log: Path | None = None
    netns: str | None = None  # run inside this network namespace

    @property
    def commands_log(self) -> Path:
        """Every command line a client ran on this host, one per line."""
        assert self.config is not None
        return self.config.parent / "commands.log"

    @property
    def known_hosts_line(self) -> str:
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{name} {self.host_key_pub}"

    def start(self) -> None:
        assert self.config is not None and self.log is not None
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(
            [*prefix, SSHD, "-D", "-e", "-f", str(self.config)],  # absolute -f: re-execs from /
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115
        )
        wait_for(
            lambda: port_open(self.address, self.port),
            10,
            f"sshd {self.name}",
            self.proc,
            str(self.log),
        )

    def stop(self) -> None:
        """Stop the listener and every session it forked (the whole host goes away)."""
        if self.proc is not None:
            # each connection's sshd calls setsid(), so find them by parentage instead
            sessions = descendants(self.proc.pid)
            stop(self.proc)
            for pid in sessions:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def make_host(
    root: Path,
    name: str,
    address: str,
    client_pub: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
    max_sessions: int = 100,
) -> SshHost:
    """Lay out and configure one host under root/name (not started)."""
    base = root / name
    etc, sandbox = base / "etc", base / "home"
    for d in (etc, sandbox / "bin"):
        d.mkdir(parents=True, exist_ok=True)
    host_key = keygen(etc / "ssh_host_ed25519_key", f"{name}-host")
    shutil.copy(client_pub, etc / "authorized_keys")
    session = etc / "session.sh"
    session.write_text(_SESSION.replace("{log}", shlex.quote(str(etc / "commands.log"))))
    session.chmod(0o755)
    port = port or free_port(address)
    sftp = next(
        (
            p
            for p in (
                "/usr/lib/openssh/sftp-server",
                "/usr/libexec/openssh/sftp-server",
                "/usr/lib/ssh/sftp-server",
            )
            if os.path.exists(p)
        ),
        "internal-sftp",
    )
    config = etc / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                f"ListenAddress {address}",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {etc / 'authorized_keys'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                f"PidFile {etc / 'sshd.pid'}",
                "StrictModes no",
                "UsePAM no",
                "MaxStartups 200",
                f"MaxSessions {max_sessions}",
                "ClientAliveInterval 5",
                "LogLevel ERROR",
                f"Subsystem sftp {sftp}",
                f"SetEnv HOME={sandbox} PATH={sandbox / 'bin'}:/usr/local/bin:/usr/bin:/bin "
                f"FLEETDECK_TEST_HOST={name}"
                + "".join(f" {k}={v}" for k, v in (env or {}).items()),
                f"ForceCommand {session}",
                "",
            ]
        )
    )
    pub = (host_key.with_suffix(".pub")).read_text().split()
    return SshHost(
        name, address, port, sandbox, f"{pub[0]} {pub[1]}", None, config, base / "sshd.log"
    )


def sshd_available() -> str | None:
    """None when test hosts can run here, else why not."""
    if not os.path.exists(SSHD):
        return "OpenSSH server (sshd) is not installed"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is not installed"
    if os.geteuid() != 0:
        return "sshd test hosts need root (privilege separation)"
    return None


def ensure_privsep_dir() -> None:
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
