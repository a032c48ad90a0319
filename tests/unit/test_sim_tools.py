"""The simulator's ufw, hf, df, nvidia-smi and docker tools, run as a node would run them."""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stderr, redirect_stdout

import pytest

from console.sim.node import install_tools
from console.sim.tools import hf, ufw


@pytest.fixture
def home(tmp_path, monkeypatch):
    (tmp_path / ".sim").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FLEETDECK_SIM_DIR", raising=False)
    return tmp_path


def run(tool, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = tool.main(list(args))
    return rc, out.getvalue(), err.getvalue()


def test_ufw_records_rules_and_prints_them_like_ufw(home):
    assert run(ufw, "status")[1] == "Status: inactive\n"
    assert run(ufw, "allow", "22/tcp")[1] == "Rule added\nRule added (v6)\n"
    assert run(ufw, "allow", "22/tcp")[1].startswith("Skipping adding existing rule")
    run(ufw, "allow", "from", "10.0.0.5", "to", "any", "port", "8080", "proto", "tcp")
    run(ufw, "default", "deny", "incoming")
    assert run(ufw, "--force", "enable")[1] == "Firewall is active and enabled on system startup\n"
    status = run(ufw, "status")[1].splitlines()
    assert status[0] == "Status: active"
    assert status[2].split() == ["To", "Action", "From"]
    assert status[4].split() == ["22/tcp", "ALLOW", "Anywhere"]
    assert status[5].split() == ["8080/tcp", "ALLOW", "10.0.0.5"]
    assert "Default: deny (incoming)" in run(ufw, "status", "verbose")[1]
    assert run(ufw, "bogus")[0] == 1


def test_hf_download_lays_out_the_cache_and_can_fail_once(home, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    (home / ".sim" / "hf.json").write_text(json.dumps({"fail_once": True}))
    rc, _, err = run(hf, "download", "Qwen/Qwen3-32B-FP8")
    assert rc == 1 and "ConnectionError" in err
    rc, out, err = run(hf, "download", "Qwen/Qwen3-32B-FP8")
    assert rc == 0 and "Fetching 5 files: 100%" in err
    snapshot = home / "hf" / "hub" / "models--Qwen--Qwen3-32B-FP8" / "snapshots"
    config = next(snapshot.glob("*/config.json"))
    assert json.loads(config.read_text())["_name_or_path"] == "Qwen/Qwen3-32B-FP8"
    assert out.strip() == str(config.parent)
    (home / ".sim" / "hf.json").unlink()  # fail_once fails each repository once
    rc, out, _ = run(hf, "download", "org/m", "--local-dir", str(home / "m"))
    assert rc == 0 and (home / "m" / "config.json").exists()
    assert run(hf, "upload")[0] == 2


def test_df_reports_the_simulated_disk(home):
    install_tools(home, None)
    df = str(home / "bin" / "df")
    (home / ".sim" / "disk.json").write_text(json.dumps({"total_kb": 1000, "used_kb": 993}))
    out = subprocess.run([df, "-P", "-k", "/mnt/shared"], capture_output=True, text=True)
    header, row = out.stdout.splitlines()
    assert header.split()[:3] == ["Filesystem", "1024-blocks", "Used"]
    assert row.split()[1:5] == ["1000", "993", "7", "100%"]
    # the shape the node writes: ten-digit sizes, one row per path asked
    (home / ".sim" / "disk.json").write_text(
        json.dumps({"total_kb": 3_840_000_000, "used_kb": 1_574_400_000})
    )
    out = subprocess.run([df, "-P", "-k", "/a", "/b"], capture_output=True, text=True)
    rows = [r.split() for r in out.stdout.splitlines()[1:]]
    assert rows == [["/dev/nvme0n1p1", "3840000000", "1574400000", "2265600000", "41%", "/"]] * 2
    (home / ".sim" / "disk.json").unlink()
    assert subprocess.run([df, "-P", "-k", "/"], capture_output=True).returncode != 0


def test_the_shell_fronts_answer_as_the_python_tools_do(home):
    """`nvidia-smi -L` and `docker compose version` are answered by a shell front (no
    interpreter start): word for word what the Python tools print, lost GPUs left out."""
    from console.sim import gpus
    from console.sim.tools import docker, nvidia_smi

    install_tools(home, None)
    snapshot = gpus.with_lost(gpus.readings("n1", 4, "H100", True, 0.0, gpus.GpuFaults()), 2)
    gpus.write(home / ".sim" / "gpus.txt", snapshot)
    env = {"PATH": f"{home / 'bin'}:/usr/bin:/bin", "HOME": str(home)}

    def shell(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)

    listed = shell("nvidia-smi", "-L")
    assert listed.stdout == nvidia_smi.listing(snapshot) and listed.returncode == 0
    assert listed.stdout.count("GPU ") == 3 and "GPU 2:" not in listed.stdout
    assert shell("nvidia-smi", "--list-gpus").stdout == listed.stdout
    for args in (["compose", "version"], ["compose", "version", "--short"]):
        front, (rc, out, _) = shell("docker", *args), run(docker, *args)
        assert (front.stdout, front.returncode) == (out, rc) == (out, 0)
    (home / ".sim" / "no-compose-plugin").touch()
    front, tool = shell("docker", "compose", "version"), run(docker, "compose", "version")
    assert (front.returncode, front.stderr) == (tool[0], tool[2]) == (1, front.stderr)
    assert "'compose' is not a docker command" in front.stderr
    # no readings (no driver): the Python tool's own message
    (home / ".sim" / "gpus.txt").unlink()
    assert shell("nvidia-smi", "-L").stdout == nvidia_smi.NO_DRIVER


def test_a_nodes_python_reaches_its_own_localhost_and_nothing_past_loopback(home):
    """The node-network hook (its python3's sitecustomize) redirects 127.0.0.1:PORT to the
    node's private address and moved port, only once a program imports socket, and also
    after something merely looked for the module first; a connect outside loopback is
    refused either way."""
    import socket

    install_tools(home, None)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    moved = server.getsockname()[1]
    (home / ".sim" / "net").write_text(f"private=127.0.0.1\n8000={moved}\n")
    env = {"PATH": f"{home / 'bin'}:/usr/bin:/bin", "HOME": str(home)}
    program = (
        "import importlib.util, sys\n"
        "importlib.util.find_spec('socket')\n"
        "assert 'socket' not in sys.modules\n"
        "import socket\n"
        "socket.create_connection(('127.0.0.1', 8000), timeout=10).close()\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=10)\n"
        "except OSError as e:\n"
        "    print(e)\n"
    )
    try:
        ran = subprocess.run(
            ["python3", "-c", program], env=env, capture_output=True, text=True, timeout=30
        )
        assert ran.returncode == 0, ran.stderr
        assert "refused (outside 127.0.0.0/8)" in ran.stdout
        server.settimeout(10)
        server.accept()[0].close()  # the connect to port 8000 came to the moved port
    finally:
        server.close()


def test_sudo_and_apt_get_stay_in_the_node_sandbox(home, monkeypatch):
    from console.sim.tools import apt_get

    install_tools(home, None)
    (home / "bin" / "ufw").unlink()
    env = {"PATH": f"{home / 'bin'}:/usr/bin:/bin", "HOME": str(home)}
    # the node's sudo comes first on its PATH; it runs the command as the node's root
    found = subprocess.run(["sh", "-c", "command -v sudo"], env=env, capture_output=True, text=True)
    assert found.stdout.strip() == str(home / "bin" / "sudo")
    shown = subprocess.run(
        ["sudo", "-n", "-u", "root", "env"], env=env, capture_output=True, text=True
    )
    assert "FLEETDECK_SIM_ROOT=1" in shown.stdout.splitlines()
    # apt-get: root only, as the real one; through the node's sudo it installs the fake tool
    monkeypatch.setattr(apt_get.os, "geteuid", lambda: 1000)
    monkeypatch.delenv("FLEETDECK_SIM_ROOT", raising=False)
    rc, _, err = run(apt_get, "install", "-y", "-q", "ufw")
    assert rc == 100 and "Could not open lock file" in err
    monkeypatch.setenv("FLEETDECK_SIM_ROOT", "1")
    assert run(apt_get, "install", "-y", "nosuchpkg")[0] == 100
    rc, out, _ = run(apt_get, "install", "-y", "-q", "ufw")
    assert rc == 0 and "Setting up ufw" in out
    assert (home / "bin" / "ufw").exists()
    assert json.loads((home / ".sim" / "apt.json").read_text()) == ["ufw"]


def test_compose_ports_merge_files_as_compose_does(tmp_path, monkeypatch):
    """Gonka's files publish on every interface; a later file's `ports: !override` replaces
    a service's list (fleetdeck's docker-compose.fleetdeck.yml), a plain `ports:` adds."""
    from console.sim.deployrepo import COMPOSE
    from console.sim.tools.docker import compose_ports, compose_services

    monkeypatch.delenv("API_PORT", raising=False)
    main, extra = tmp_path / "main.yml", tmp_path / "extra.yml"
    main.write_text(COMPOSE)
    extra.write_text(
        'services:\n  api:\n    ports: !override\n      - "10.0.0.5:9100:9100"\n'
        '      - "[fd00::5]:9100:9100"\n  proxy:\n    ports:\n      - "127.0.0.1:8080:8080"\n'
    )
    alone = compose_ports([main])
    assert (9100, "0.0.0.0", 9100) in alone["api"] and (80, "0.0.0.0", 8000) in alone["proxy"]
    merged = compose_ports([main, extra])
    assert merged["api"] == [(9100, "10.0.0.5", 9100), (9100, "fd00::5", 9100)]
    assert merged["proxy"] == [
        (80, "0.0.0.0", 8000),
        (443, "0.0.0.0", 8443),
        (8080, "127.0.0.1", 8080),
    ]
    # a service named in both files is one service, its image from the file that has one
    services = dict(compose_services([main, extra]))
    assert list(services).count("api") == 1 and services["api"].endswith("/api:0.2.14")
