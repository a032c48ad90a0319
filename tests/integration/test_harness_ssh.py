"""Fabric against the real OpenSSH test hosts, with host keys verified."""

from __future__ import annotations

import io

import paramiko
import pytest
from fabric import Connection

pytestmark = pytest.mark.integration


def connect(host, client_key, known_hosts) -> Connection:
    c = Connection(
        host.address,
        user="root",
        port=host.port,
        connect_timeout=5,
        connect_kwargs={
            "key_filename": str(client_key),
            "look_for_keys": False,
            "allow_agent": False,
        },
    )
    c.client.load_host_keys(str(known_hosts))
    c.client.set_missing_host_key_policy(paramiko.RejectPolicy())  # never AutoAdd
    return c


def test_fabric_runs_a_command_in_the_host_sandbox(ssh_hosts, ssh_host, client_key):
    tool = ssh_host.sandbox / "bin" / "whoami-host"
    tool.write_text('#!/bin/sh\necho "host=$FLEETDECK_TEST_HOST args=$*"\n')
    tool.chmod(0o755)
    with connect(ssh_host, client_key, ssh_hosts.known_hosts) as c:
        result = c.run("pwd; echo $HOME; whoami-host 'a b'", hide=True, in_stream=False)
    lines = result.stdout.splitlines()
    assert result.exited == 0
    assert lines == [str(ssh_host.sandbox), str(ssh_host.sandbox), "host=host1 args=a b"]


def test_two_hosts_are_separate_machines(ssh_hosts, ssh_host, client_key):
    other = ssh_hosts.start("host2")
    (other.sandbox / "marker").write_text("two\n")
    with connect(other, client_key, ssh_hosts.known_hosts) as c:
        assert c.run("cat marker", hide=True, in_stream=False).stdout == "two\n"
    with connect(ssh_host, client_key, ssh_hosts.known_hosts) as c:
        assert c.run("test -e marker", hide=True, warn=True, in_stream=False).exited == 1
    assert (other.address, other.port) != (ssh_host.address, ssh_host.port)


def test_sftp_put_lands_in_the_sandbox(ssh_hosts, ssh_host, client_key):
    with connect(ssh_host, client_key, ssh_hosts.known_hosts) as c:
        c.put(io.BytesIO(b"payload\n"), remote=str(ssh_host.sandbox / "uploaded.txt"))
    assert (ssh_host.sandbox / "uploaded.txt").read_bytes() == b"payload\n"


def test_unknown_host_key_is_refused(ssh_host, client_key, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    c = connect(ssh_host, client_key, empty)
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        c.open()
    c.close()


def test_changed_host_key_is_refused(ssh_host, client_key, tmp_path):
    forged = tmp_path / "known_hosts"
    other_key = paramiko.Ed25519Key.from_private_key_file(str(client_key))
    forged.write_text(
        f"[{ssh_host.address}]:{ssh_host.port} ssh-ed25519 {other_key.get_base64()}\n"
    )
    c = connect(ssh_host, client_key, forged)
    with pytest.raises(paramiko.BadHostKeyException):
        c.open()
    c.close()
