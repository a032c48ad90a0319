"""A new machine's SSH host key: fetched from the machine, then checked against what the
cloud vouches for. cloud-init prints the host key fingerprints (and the public keys) to
the console at first boot, between these markers, each line maybe prefixed `ec2: `:

    -----BEGIN SSH HOST KEY FINGERPRINTS-----
    256 SHA256:3ZfC… root@ip-172-31-5-9 (ED25519)
    -----END SSH HOST KEY FINGERPRINTS-----
    -----BEGIN SSH HOST KEY KEYS-----
    ssh-ed25519 AAAAC3… root@ip-172-31-5-9
    -----END SSH HOST KEY KEYS-----

The console output is the cloud's channel, not the network's: a key seen over the network
that it does not list is refused.
"""

from __future__ import annotations

import base64
import re
import socket
import time

import paramiko

from console.core.transport.ssh import fingerprint

FINGERPRINT_RE = re.compile(r"\b(SHA256:[A-Za-z0-9+/]{43})\b")
KEY_RE = re.compile(r"\b((?:ssh|ecdsa)-[a-z0-9-]+) (AAAA[A-Za-z0-9+/=]+)")


def vouched(console: str) -> set[str] | None:
    """The SHA256 fingerprints cloud-init printed, or None when the output has no such
    block (yet: it comes a minute or two after boot)."""
    found: set[str] = set()
    inside = None
    for line in console.splitlines():  # a `ec2: ` prefix or none: found anywhere in the line
        if "-----BEGIN SSH HOST KEY" in line:
            inside = "KEYS" if "KEYS" in line else "FINGERPRINTS"
            continue
        if "-----END SSH HOST KEY" in line:
            inside = None
            continue
        if inside == "FINGERPRINTS":
            found.update(FINGERPRINT_RE.findall(line))
        elif inside == "KEYS":
            for kind, blob in KEY_RE.findall(line):
                try:
                    key = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
                except Exception:  # noqa: S112 - a key type paramiko lacks vouches for nothing
                    continue
                found.add(fingerprint(key))
    return found or None


def wait_for_key(host: str, port: int, timeout: float, step: float = 2.0) -> paramiko.PKey:
    """The host key the machine's sshd offers, once it answers (a new machine takes a
    minute or two); TimeoutError when it never does."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            return host_key(host, port)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            last = str(exc) or type(exc).__name__
        if time.monotonic() + step > deadline:
            raise TimeoutError(f"SSH on {host}:{port} did not answer in {timeout:.0f} s ({last})")
        time.sleep(step)


def host_key(host: str, port: int, timeout: float = 10) -> paramiko.PKey:
    """The key of the SSH server at host:port, from its key exchange (no login)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    finally:
        transport.close()
