"""console/core/transport/ssh.py against real OpenSSH test hosts: host keys, reconnects,
fan-out, forwards."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.request

import pytest

from console.core.transport.ssh import (
    Backoff,
    CommandTimeout,
    ConnectionLost,
    HostKeyChanged,
    HostKeyRevoked,
    Pool,
    SshError,
    Target,
    UnknownHostKey,
)

pytestmark = pytest.mark.integration


def target(host, client_key, name=None, jump=None) -> Target:
    return Target(name or host.name, host.address, host.port, "root", str(client_key), jump)


def test_runs_commands_over_one_persistent_connection(ssh_hosts, ssh_host, client_key):
    pool = Pool([target(ssh_host, client_key)], ssh_hosts.known_hosts, system_known_hosts=False)
    try:
        first = pool.run("host1", "echo $HOME; echo err >&2; exit 3")
        assert first.exited == 3
        assert first.stdout == f"{ssh_host.sandbox}\n" and first.stderr == "err\n"
        transport = pool.connection("host1").transport
        # OpenSSH offers AES-GCM, which ours asks for first (no HMAC per packet in Python)
        assert transport.remote_cipher == transport.local_cipher == "aes128-gcm@openssh.com"
        assert pool.run("host1", "cat", stdin="from stdin\n").stdout == "from stdin\n"
        assert pool.connection("host1").transport is transport  # the same connection
    finally:
        pool.close()


def test_input_output_lines_and_timeouts(ssh_hosts, ssh_host, client_key):
    pool = Pool([target(ssh_host, client_key)], ssh_hosts.known_hosts, system_known_hosts=False)
    try:
        payload = "".join(f"line {i}\n" for i in range(4000))  # ~40 kB: a large config file
        ran = pool.run("host1", "wc -l; cat >&2 </dev/null; exit 4", stdin=payload)
        assert (ran.exited, ran.stdout.strip()) == (4, "4000")
        seen: list[tuple[str, str]] = []
        out = pool.run(
            "host1",
            "cat; printf 'progress 40%%\\rprogress 80%%\\r'; echo done >&2",
            stdin="a\nb",
            on_line=lambda stream, line: seen.append((stream, line)),
        )
        assert out.stdout.startswith("a\nb")
        assert seen[:2] == [("stdout", "a"), ("stdout", "bprogress 40%")]
        assert ("stdout", "progress 80%") in seen and ("stderr", "done") in seen
        streamed: list[tuple[str, str]] = []
        plain = pool.run("host1", "echo one; echo two", on_line=lambda *a: streamed.append(a))
        assert plain.stdout == "one\ntwo\n" and streamed == [("stdout", "one"), ("stdout", "two")]
        with pytest.raises(CommandTimeout, match="timed out"):
            pool.run("host1", "cat >/dev/null; sleep 30", stdin="x", timeout=1)
        assert pool.run("host1", "echo still", stdin="").stdout == "still\n"
    finally:
        pool.close()


def test_unknown_host_key_is_refused_unless_accepted(ssh_host, client_key, tmp_path):
    known = tmp_path / "known_hosts"
    pool = Pool([target(ssh_host, client_key)], known, system_known_hosts=False)
    with pytest.raises(UnknownHostKey) as info:
        pool.connection("host1")
    assert info.value.fingerprint.startswith("SHA256:")
    assert "--accept-new-host-keys" in str(info.value)
    assert not known.exists()

    asked = []
    accepting = Pool(
        [target(ssh_host, client_key)],
        known,
        system_known_hosts=False,
        accept_new=lambda *args: asked.append(args) or True,
    )
    assert accepting.run("host1", "true").exited == 0
    accepting.close()
    assert asked and asked[0][0] == "host1" and asked[0][3] == info.value.fingerprint
    assert known.read_text().startswith(f"[{ssh_host.address}]:{ssh_host.port} ")
    # now known: a strict pool connects without asking
    strict = Pool([target(ssh_host, client_key)], known, system_known_hosts=False)
    assert strict.run("host1", "true").exited == 0
    strict.close()


def test_changed_host_key_is_refused_loudly(ssh_hosts, ssh_host, client_key, tmp_path):
    import paramiko

    forged = tmp_path / "known_hosts"
    other = paramiko.Ed25519Key.from_private_key_file(str(client_key))
    forged.write_text(f"[{ssh_host.address}]:{ssh_host.port} ssh-ed25519 {other.get_base64()}\n")
    pool = Pool(
        [target(ssh_host, client_key)], forged, system_known_hosts=False, accept_new=True
    )  # accepting new keys never accepts a changed one
    with pytest.raises(HostKeyChanged, match="HOST KEY CHANGED"):
        pool.connection("host1")
    assert forged.read_text().count("\n") == 1  # nothing was added


def test_a_key_marked_revoked_is_refused_known_or_new(ssh_hosts, ssh_host, client_key, tmp_path):
    """`@revoked` lines are honoured as OpenSSH honours them: a node whose key is listed
    there is refused, even beside a line that knows the key, and never asked about."""
    line = next(
        x
        for x in ssh_hosts.known_hosts.read_text().splitlines()
        if x.startswith(f"[{ssh_host.address}]:{ssh_host.port} ")
    )
    _, key_type, blob = line.split()[:3]
    known = tmp_path / "known_hosts"
    known.write_text(f"{line}\n@revoked * {key_type} {blob}\n")
    pool = Pool([target(ssh_host, client_key)], known, system_known_hosts=False)
    with pytest.raises(HostKeyRevoked, match="REVOKED HOST KEY") as info:
        pool.run("host1", f"touch {tmp_path}/ran")
    assert info.value.got.startswith("SHA256:")
    assert not (tmp_path / "ran").exists()  # no command reached the node
    pool.close()
    asked = []
    new = tmp_path / "known_hosts_new"
    new.write_text(f"@revoked * {key_type} {blob}\n")
    accepting = Pool(
        [target(ssh_host, client_key)],
        new,
        system_known_hosts=False,
        accept_new=lambda *args: asked.append(args) or True,
    )
    with pytest.raises(HostKeyRevoked):
        accepting.connection("host1")
    accepting.close()
    assert asked == [] and new.read_text().count("\n") == 1  # not asked, not recorded


def test_host_keys_are_read_again_when_the_files_change(
    ssh_hosts, ssh_host, client_key, tmp_path, monkeypatch
):
    import paramiko

    # the pool parses each known_hosts file once and keeps it until the file changes
    known = tmp_path / "known_hosts"
    good = known.with_suffix(".good")
    good.write_text(
        ssh_hosts.known_hosts.read_text()
        + "".join(f"10.1.{i // 250}.{i % 250} ssh-ed25519 {'A' * 68}\n" for i in range(3))
    )
    forged = paramiko.Ed25519Key.from_private_key_file(str(client_key)).get_base64()
    bad = f"[{ssh_host.address}]:{ssh_host.port} ssh-ed25519 {forged}\n"
    known.write_text(good.read_text())
    pool = Pool([target(ssh_host, client_key)], known, system_known_hosts=False)
    try:
        assert pool.run("host1", "true").exited == 0
        pool.close()
        known.write_text(bad)  # the node's entry now names another key
        with pytest.raises(HostKeyChanged):
            pool.connection("host1")
    finally:
        pool.close()
    # ~/.ssh/known_hosts, when it knows the host, is believed first (as paramiko does)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(bad)
    monkeypatch.setenv("HOME", str(home))
    known.write_text(good.read_text())
    with_system = Pool([target(ssh_host, client_key)], known)
    try:
        with pytest.raises(HostKeyChanged):
            with_system.connection("host1")
        (home / ".ssh" / "known_hosts").write_text(good.read_text())
        with_system._next_try.clear()  # no back-off wait: the file was fixed
        assert with_system.run("host1", "true").exited == 0
    finally:
        with_system.close()


def test_a_stopped_host_backs_off_then_reconnects(ssh_hosts, client_key):
    flaky = ssh_hosts.start("flaky")
    pool = Pool(
        [target(flaky, client_key)],
        ssh_hosts.known_hosts,
        system_known_hosts=False,
        connect_timeout=2,
    )
    try:
        assert pool.run("flaky", "true").exited == 0
        flaky.stop()
        with pytest.raises(SshError):
            pool.run("flaky", "true")
        with pytest.raises(SshError, match="refused|Backoff|next attempt"):
            pool.connection("flaky")
        with pytest.raises(Backoff):
            pool.connection("flaky")  # within the backoff window: no new attempt
        flaky.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                assert pool.run("flaky", "echo back").stdout == "back\n"
                break
            except Backoff:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        pool.close()
        flaky.stop()


@pytest.mark.parametrize("stdin", [None, "input\n"], ids=["plain", "with-input"])
def test_a_host_lost_while_a_command_runs_is_the_connection_not_exit_minus_1(
    ssh_hosts, client_key, tmp_path, stdin
):
    """The host goes down mid-command: the command ends with no exit status, which is the
    SSH connection lost (an error naming it), never a result with exit -1."""
    lost = ssh_hosts.start(f"lost-{'in' if stdin else 'plain'}")
    pool = Pool([target(lost, client_key)], ssh_hosts.known_hosts, system_known_hosts=False)
    started = tmp_path / "started"
    try:
        box: dict = {}

        def run() -> None:
            try:
                box["result"] = pool.run(
                    lost.name, f"touch {started}; sleep 30", timeout=60, stdin=stdin
                )
            except SshError as exc:
                box["error"] = exc

        runner = threading.Thread(target=run)
        runner.start()
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists()
        lost.stop()  # the listener and every session: the whole host
        runner.join(30)
        assert "result" not in box, box
        assert "SSH connection was lost while a command ran" in str(box["error"])
    finally:
        pool.close()


def test_a_refused_channel_fails_its_command_alone_and_the_connection_stays(
    ssh_hosts, client_key, tmp_path
):
    """sshd refuses a session past its MaxSessions (a busy host): that one command fails as
    a lost channel; the command already running on the same connection is not cut."""
    busy = ssh_hosts.start("one-session", max_sessions=1)
    pool = Pool([target(busy, client_key)], ssh_hosts.known_hosts, system_known_hosts=False)
    started = tmp_path / "started"
    try:
        box: dict = {}

        def run() -> None:
            box["result"] = pool.run(busy.name, f"touch {started}; sleep 2; echo finished")

        runner = threading.Thread(target=run)
        runner.start()
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        transport = pool.connection(busy.name).transport
        with pytest.raises(ConnectionLost, match="the connection is up"):
            pool.run(busy.name, "true")
        runner.join(30)
        assert box["result"].stdout == "finished\n"  # not cut by the refusal beside it
        assert pool.connection(busy.name).transport is transport
    finally:
        pool.close()
        busy.stop()


def test_fan_out_is_bounded_by_parallelism(ssh_hosts, ssh_host, client_key):
    hosts = [ssh_host] + [ssh_hosts.start(f"fan{i}") for i in range(3)]
    pool = Pool(
        [target(h, client_key) for h in hosts],
        ssh_hosts.known_hosts,
        system_known_hosts=False,
        parallelism=2,
    )
    running, peak, lock = 0, 0, threading.Lock()

    def work(name: str) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return pool.run(name, "sleep 0.3; echo $FLEETDECK_TEST_HOST").stdout.strip()
        finally:
            with lock:
                running -= 1

    try:
        results = pool.fan_out([h.name for h in hosts], work)
        assert results == {h.name: h.name for h in hosts}
        assert peak == 2
    finally:
        pool.close()
        for h in hosts[1:]:
            h.stop()


def test_many_connections_opened_at_once_all_open(ssh_hosts, ssh_host, client_key):
    # 60 node names on one sshd, connected by 60 threads released together. Fabric writes
    # into a new Connection's config (inline_ssh_env is not a declared attribute, so it
    # lands in the config and invoke re-merges it): a pool that shared one Config saw it
    # empty mid-merge in other threads (KeyError 'gateway', 3 of 100 nodes in a bench)
    names = [f"n{i}" for i in range(60)]
    pool = Pool(
        [target(ssh_host, client_key, name=n) for n in names],
        ssh_hosts.known_hosts,
        system_known_hosts=False,
        parallelism=60,
    )
    start = threading.Barrier(len(names))

    def connect(name: str) -> int:
        start.wait()
        return pool.run(name, "true").exited

    try:
        results = pool.fan_out(names, connect)
        assert results == dict.fromkeys(names, 0), {n: r for n, r in results.items() if r != 0}
        configs = {id(pool.connection(n).config) for n in names}
        assert len(configs) == len(names)  # none shares a Config with another
    finally:
        pool.close()


def test_forward_reaches_a_port_as_seen_from_the_node(ssh_hosts, ssh_host, client_key):
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"from the node side")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pool = Pool([target(ssh_host, client_key)], ssh_hosts.known_hosts, system_known_hosts=False)
    try:
        local = pool.forward("host1", server.server_address[1])
        with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=10) as resp:
            assert resp.read() == b"from the node side"
        assert pool.forward("host1", server.server_address[1]) == local  # reused
    finally:
        pool.close()
        server.shutdown()


def test_proxy_jump_through_a_bastion(ssh_hosts, client_key):
    bastion, inner = ssh_hosts.start("bastion"), ssh_hosts.start("inner")
    jump = f"root@{bastion.address}:{bastion.port}"
    pool = Pool(
        [target(inner, client_key, jump=jump)], ssh_hosts.known_hosts, system_known_hosts=False
    )
    try:
        assert pool.run("inner", "echo $FLEETDECK_TEST_HOST").stdout == "inner\n"
        # the path goes through the bastion: without it, the inner host is out of reach
        bastion.stop()
        pool.drop("inner")
        with pytest.raises(SshError, match="inner"):
            pool.connection("inner")
        assert inner.running
    finally:
        pool.close()
        inner.stop()


def test_a_malformed_known_hosts_line_is_skipped_not_every_node_down(
    ssh_hosts, ssh_host, client_key, tmp_path
):
    from console.core.transport.ssh import read_known_hosts

    known = tmp_path / "known_hosts"
    # bad base64, a line cut short, binary junk: then the host's real line
    known.write_bytes(
        b"10.9.9.9 ssh-ed25519 AAAA!!!!notbase64\n"
        b"10.9.9.8 ssh-rsa\n"
        b"\xff\xfe\x00garbage\n" + ssh_hosts.known_hosts.read_bytes()
    )
    _, problems = read_known_hosts(known)
    assert problems == [
        f"{known}:{n}: not a known_hosts line (skipped, as ssh does)" for n in (1, 2, 3)
    ]
    pool = Pool([target(ssh_host, client_key)], known, system_known_hosts=False)
    try:
        assert pool.run("host1", "true").exited == 0  # the good line still serves
    finally:
        pool.close()
