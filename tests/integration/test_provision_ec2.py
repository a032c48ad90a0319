"""Provisioning on EC2, end to end: a real moto_server, the stand-in that plays what moto
cannot (machines' addresses, cloud-init's console output, a quota), real sshd hosts
standing in for the new machines, and fleetdeck run as an operator runs it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import boto3
import pytest

from console.core.journal import DONE, Journal
from tests.harness.cli import REPO, run_watching_argv
from tests.harness.ec2 import Ec2Stand, MotoServer
from tests.harness.procs import free_port
from tests.harness.sshd import make_host

pytestmark = pytest.mark.integration

KEY_ID = "AKIDPLANTED0000000000"
SECRET = "plantedSecretValue/9f8e7d6c5b4a39281706"


@pytest.fixture(scope="module")
def moto(harness_dir: Path, ssh_hosts):  # ssh_hosts: sshd can run here (else skip, saying why)
    server = MotoServer(harness_dir / "moto.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ec2(moto: MotoServer):
    return boto3.client(
        "ec2",
        endpoint_url=f"http://127.0.0.1:{moto.port}",
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


@pytest.fixture(scope="module")
def image(ec2) -> str:
    found = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["*ubuntu*"]}]
    )["Images"]
    return found[0]["ImageId"]


class Site:
    """One test's cloud: sshd hosts for its machines, the stand-in, a profile, a home."""

    def __init__(self, root: Path, moto: MotoServer, client_key: Path, count: int, net: int):
        self.root = root
        self.hosts = []
        self.port = free_port(f"127.0.{net}.1")
        for i in range(1, count + 1):
            host = make_host(
                root / "machines",
                f"m{i}",
                f"127.0.{net}.{i}",
                client_key.with_suffix(".pub"),
                port=self.port,
            )
            host.start()
            self.hosts.append(host)
        self.stand = Ec2Stand(moto.port, {h.address: h.host_key_pub for h in self.hosts}).start()
        self.state = root / "state"
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(root),
            "XDG_STATE_HOME": str(self.state),
            "XDG_CONFIG_HOME": str(root / "config"),
            "AWS_CREDS": f"{KEY_ID}:{SECRET}",
        }
        self.outputs: list[str] = []

    def fleetdeck(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "console.app.cli", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=self.env,
            input=stdin,
            timeout=120,
        )
        self.outputs += [done.stdout, done.stderr]
        return done

    def stop(self) -> None:
        self.stand.stop()
        for host in self.hosts:
            host.stop()


def pools_profile(site: Site, fleet: str, image: str, client_key: Path, clusters: int) -> Path:
    """A Gonka layout of 1 network + 5 ML nodes per cluster, p5.48xlarge, commented."""
    parts = [
        f"# {fleet}: two Gonka participants on EC2, provisioned by fleetdeck\n",
        f'[fleet]\nname = "{fleet}"\nstack = "gonka"\n',
        f'[ssh]\nuser = "root"\nkey = "{client_key}"\nport = {site.port}  # the machines\' sshd\n'
        f'known_hosts = "{site.root}/known_hosts"\n',
    ]
    for c in range(1, clusters + 1):
        parts.append(f'# participant {c}\n[[clusters]]\nname = "c{c}"\n')
    for c in range(1, clusters + 1):
        for role, count, names in (
            ("network", 1, "{cluster}-network"),
            ("ml", 5, "{cluster}-ml{n}"),
        ):
            parts.append(
                f"# cluster c{c}: its {role} machines\n"
                f'[[provision.pools]]\nname = "c{c}-{role}"\ndriver = "ec2"\n'
                f'region = "us-east-1"\nendpoint = "{site.stand.endpoint}"\n'
                f'size = "p5.48xlarge"  # 8×H100\nimage = "{image}"\ncount = {count}\n'
                f'names = "{names}"\ncluster = "c{c}"\nrole = "{role}"\n'
                f'credentials = "env:AWS_CREDS"\ndisk_gb = 1000\n'
            )
    path = site.root / "fleet.toml"
    path.write_text("\n".join(parts))
    return path


def nodes_of(profile: Path) -> dict[str, dict]:
    data = tomllib.loads(profile.read_text())
    return {n["name"]: n for c in data["clusters"] for n in c.get("nodes", [])}


def world_rules(ec2, group: str) -> tuple[set[int], bool]:
    """(ports open to 0.0.0.0/0, whether the group lets its own members in)."""
    found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [group]}])
    perms = found["SecurityGroups"][0]["IpPermissions"]
    world = {
        p["FromPort"]
        for p in perms
        for r in p["IpRanges"]
        if r["CidrIp"] == "0.0.0.0/0" and p["FromPort"] == p["ToPort"]
    }
    own = found["SecurityGroups"][0]["GroupId"]
    internal = any(g["GroupId"] == own for p in perms for g in p["UserIdGroupPairs"])
    return world, internal


def test_two_gonka_clusters_are_provisioned_and_written_into_the_profile(
    moto, ec2, image, harness_dir, client_key
):
    site = Site(harness_dir / "prov-two", moto, client_key, 12, 61)
    try:
        profile = pools_profile(site, "two-clusters", image, client_key, clusters=2)
        text = profile.read_text()  # cluster c2's ML machines on spot
        cut = text.index('name = "c2-ml"')
        profile.write_text(
            text[:cut] + text[cut:].replace("disk_gb = 1000", "disk_gb = 1000\nspot = true", 1)
        )
        comments = [line for line in profile.read_text().splitlines() if "#" in line]

        plan = site.fleetdeck("plan", str(profile), "provision")
        assert plan.returncode == 0, plan.stderr
        assert "12 nodes" in plan.stdout
        assert plan.stdout.count("ec2 RunInstances p5.48xlarge (8×H100)") == 12
        assert "tcp 5000 from 0.0.0.0/0" in plan.stdout
        assert "9200" not in plan.stdout and "26657" not in plan.stdout

        # the argv of every process while the run runs: the secret is never in one
        run, argv_seen = run_watching_argv(
            site.env, [SECRET, KEY_ID], "run", str(profile), "provision", "--yes"
        )
        out, err = run.stdout, run.stderr
        site.outputs += [out, err]
        assert run.returncode == 0, out[-3000:] + err[-2000:]
        assert argv_seen > 0

        nodes = nodes_of(profile)
        expected = {f"c{c}-network" for c in (1, 2)} | {
            f"c{c}-ml{n}" for c in (1, 2) for n in range(1, 6)
        }
        assert set(nodes) == expected
        hosts = {h.address: h for h in site.hosts}
        assert {n["host"] for n in nodes.values()} == set(hosts)
        for name, node in nodes.items():
            assert node["role"] == ("network" if name.endswith("network") else "ml")
            assert node["gpus"] == 8 and node["gpu_type"] == "H100"
            assert node["labels"]["instance"].startswith("i-")
            assert node["labels"]["zone"].startswith("us-east-1")
            assert node["labels"]["pool"] == f"{name.split('-')[0]}-{node['role']}"
        # in the pools' order within each cluster, whichever machine came up first
        data = tomllib.loads(profile.read_text())
        assert [n["name"] for n in data["clusters"][0]["nodes"]] == [
            "c1-network",
            *(f"c1-ml{n}" for n in range(1, 6)),
        ]
        text = profile.read_text()
        for line in comments:
            assert line in text, f"comment lost: {line!r}"

        # each host key recorded is the one the sshd behind that address holds
        known = (site.root / "known_hosts").read_text().splitlines()
        for node in nodes.values():
            host = hosts[node["host"]]
            assert f"[{host.address}]:{site.port} {host.host_key_pub}" in known
        assert "matches the console output" in out

        check = site.fleetdeck("check", str(profile))
        assert check.returncode == 0, check.stdout + check.stderr
        assert "12 nodes, 96 GPUs expected" in check.stdout
        assert "still to provision" not in check.stdout

        # the firewall opens exactly the network node's public ports (and SSH)
        for c in (1, 2):
            world, internal = world_rules(ec2, f"fleetdeck-two-clusters-c{c}")
            assert world == {22, 5000, 8000, 8443}
            assert internal

        again = site.fleetdeck("plan", str(profile), "provision")
        assert again.returncode == 0
        assert "0 steps will change" in again.stdout, again.stdout[:2000]
        runs = site.stand.actions("RunInstances")
        assert len(runs) == 12
        for call in runs:  # what EC2 was asked, call by call
            assert call["InstanceType"] == "p5.48xlarge" and call["ImageId"] == image
            assert call["KeyName"] == "fleetdeck-two-clusters"
            assert call["BlockDeviceMapping.1.Ebs.VolumeSize"] == "1000"
            assert call["BlockDeviceMapping.1.Ebs.VolumeType"] == "gp3"
            assert call["ClientToken"].startswith("fleetdeck-")
            spot = call.get("InstanceMarketOptions.MarketType")
            tags = {
                call[f"TagSpecification.1.Tag.{i}.Key"]: call[f"TagSpecification.1.Tag.{i}.Value"]
                for i in range(1, 5)
            }
            assert spot == ("spot" if tags["fleetdeck-pool"] == "c2-ml" else None)
            assert tags["Name"] == tags["fleetdeck-node"]
        assert len({c["ClientToken"] for c in runs}) == 12

        # the credentials: nowhere but the keyring/env reference
        site.fleetdeck("provision", "list", str(profile))
        assert SECRET not in text and "env:AWS_CREDS" in text
        for output in site.outputs:
            assert SECRET not in output and KEY_ID not in output
        for file in site.state.rglob("*"):
            if file.is_file():
                data = file.read_bytes()
                assert SECRET.encode() not in data and KEY_ID.encode() not in data, file
        # SigV4 signs: the secret key itself never travels, only its id
        for headers in site.stand.headers:
            assert SECRET not in headers
        assert any(KEY_ID in h for h in site.stand.headers)
    finally:
        site.stop()


def test_quota_then_resume_then_orphans_and_destroy(moto, ec2, image, harness_dir, client_key):
    site = Site(harness_dir / "prov-quota", moto, client_key, 6, 62)
    try:
        profile = pools_profile(site, "quota-fleet", image, client_key, clusters=1)
        site.stand.run_instances_left = 4
        failed = site.fleetdeck("run", str(profile), "provision", "--yes")
        assert failed.returncode == 4
        said = failed.stdout + failed.stderr
        assert "InstanceLimitExceeded" in said and "quota" in said
        assert re.search(r"pool c1-(ml|network) \(ec2 us-east-1\): creating", said)
        assert "--resume" in said
        assert len(site.stand.actions("RunInstances")) == 6  # 4 made, 2 refused, no retries

        journal = Journal(site.state / "fleetdeck" / "journal.sqlite")
        run = journal.latest_run("quota-fleet", "provision")
        made = [r for r in journal.steps(run.id) if r.step == "instance" and r.state == DONE]
        assert len(made) == 4
        nodes = nodes_of(profile)
        assert set(nodes) == {r.node for r in made}

        site.stand.run_instances_left = None  # the quota was raised
        resumed = site.fleetdeck("run", str(profile), "provision", "--resume", "--yes")
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
        assert len(site.stand.actions("RunInstances")) == 8  # only the other 2
        assert len(nodes_of(profile)) == 6

        # an orphan (tagged for the fleet, in no profile) and a node whose machine is gone
        orphan = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="p5.48xlarge",
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "fleetdeck-fleet", "Value": "quota-fleet"},
                        {"Key": "fleetdeck-pool", "Value": "c1-ml"},
                        {"Key": "fleetdeck-node", "Value": "c1-ml7"},
                    ],
                }
            ],
        )["Instances"][0]["InstanceId"]
        victim = nodes_of(profile)["c1-ml3"]["labels"]["instance"]
        ec2.terminate_instances(InstanceIds=[victim])
        stopped = nodes_of(profile)["c1-ml4"]["labels"]["instance"]
        ec2.stop_instances(InstanceIds=[stopped])

        listed = site.fleetdeck("provision", "list", str(profile))
        assert listed.returncode == 4
        lines = listed.stdout.splitlines()
        assert any(line.startswith("! orphan") and orphan in line for line in lines)
        assert any(line.startswith("✕ gone") and "c1-ml3" in line for line in lines)
        assert any(
            line.startswith("~ stopped") and f"c1-ml4: {stopped} (stopped" in line for line in lines
        )

        refused = site.fleetdeck(
            "provision", "destroy", str(profile), "c1-ml3", orphan, stdin="c1-ml3\n"
        )
        assert refused.returncode == 1 and "nothing was destroyed" in refused.stdout
        assert "c1-ml3" in nodes_of(profile)

        done = site.fleetdeck(
            "provision", "destroy", str(profile), "c1-ml3", orphan, stdin=f"{orphan} c1-ml3\n"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        state = ec2.describe_instances(InstanceIds=[orphan])["Reservations"][0]["Instances"][0]
        assert state["State"]["Name"] in ("shutting-down", "terminated")
        assert "c1-ml3" not in nodes_of(profile)
        assert len(nodes_of(profile)) == 5
        ec2.start_instances(InstanceIds=[stopped])
        after = site.fleetdeck("provision", "list", str(profile))
        assert "orphan" not in after.stdout and "gone" not in after.stdout
        assert "stopped" not in after.stdout
        assert "c1-ml3: not made yet" in after.stdout
        check = site.fleetdeck("check", str(profile))
        assert check.returncode == 0, check.stdout + check.stderr
        assert "1 machine of 2 pools still to provision" in check.stdout

        # the ML pool scaled down to 3: c1-ml4 and c1-ml5 still run, and bill
        profile.write_text(profile.read_text().replace("count = 5", "count = 3"))
        listed = site.fleetdeck("provision", "list", str(profile))
        assert listed.returncode == 4
        surplus = [line for line in listed.stdout.splitlines() if line.startswith("! surplus")]
        assert [line.split()[2] for line in surplus] == ["c1-ml4:", "c1-ml5:"]
        assert "no longer counts it" in surplus[0] and "provision destroy" in surplus[0]
    finally:
        site.stop()


def test_a_host_key_the_console_output_does_not_list_is_refused(
    moto, image, harness_dir, client_key
):
    site = Site(harness_dir / "prov-forged", moto, client_key, 2, 63)
    try:
        profile = pools_profile(site, "forged-fleet", image, client_key, clusters=1)
        text = profile.read_text().replace("count = 5", "count = 1")
        profile.write_text(text)
        site.stand.forged = {h.address for h in site.hosts}  # every console lists another key
        run = site.fleetdeck("run", str(profile), "provision", "--yes")
        assert run.returncode == 4
        assert "which the console output of" in run.stdout and "refused" in run.stdout
        known = site.root / "known_hosts"
        assert not known.exists() or known.read_text().strip() == ""
        assert nodes_of(profile) == {}
    finally:
        site.stop()


def test_refused_credentials_an_unknown_size_and_a_missing_image_are_said_with_pool_and_fix(
    moto, ec2, image, harness_dir, client_key
):
    site = Site(harness_dir / "prov-typos", moto, client_key, 1, 66)
    try:
        profile = pools_profile(site, "typo-fleet", image, client_key, clusters=1)
        root = ec2.describe_images(ImageIds=[image])["Images"][0]["RootDeviceName"]
        # credentials the cloud refuses: said by the plan, with the reference to fix
        site.stand.refused_key_ids = {"AKIDREFUSED000000000"}
        site.env["AWS_CREDS"] = "AKIDREFUSED000000000:not-a-valid-secret"
        refused = site.fleetdeck("plan", str(profile), "provision")
        assert refused.returncode == 4
        assert (
            "pool c1-network (ec2 us-east-1): listing key pairs: the cloud refused the "
            "credentials in env:AWS_CREDS: AuthFailure: AWS was not able to validate"
        ) in refused.stdout
        site.env["AWS_CREDS"] = f"{KEY_ID}:{SECRET}"
        text = profile.read_text().replace("count = 5", "count = 1")
        # the network pool asks for a size that does not exist, the ML pool for an image
        # of another region
        text = text.replace('size = "p5.48xlarge"', 'size = "p9.96xlarge"', 1)
        head, _, tail = text.rpartition(f'image = "{image}"')
        profile.write_text(head + 'image = "ami-0000000000000dead"' + tail)
        run = site.fleetdeck("run", str(profile), "provision", "--yes")
        assert run.returncode == 4
        said = run.stdout + run.stderr
        assert re.search(
            r"pool c1-network \(ec2 us-east-1\): creating c1-network: "
            r"InvalidInstanceType\S*: The instance type 'p9.96xlarge' does not exist; "
            r"fix: no such size",
            said,
        ), said
        assert "attempt 2" not in said  # a typo is not retried
        assert (
            "pool c1-ml (ec2 us-east-1): reading image ami-0000000000000dead: InvalidAMIID.NotFound"
        ) in said
        assert "fix: no such image in this region: AMI ids differ per region" in said
        assert nodes_of(profile) == {} and not site.stand.actions("RunInstances")[1:]

        # with the image fixed, the machine's disk is its root device (the image says which)
        profile.write_text(head + f'image = "{image}"' + tail)
        site.fleetdeck("run", str(profile), "provision", "--yes")
        (call,) = [
            c for c in site.stand.actions("RunInstances") if c["InstanceType"] == "p5.48xlarge"
        ]
        assert call["BlockDeviceMapping.1.DeviceName"] == root
        assert set(nodes_of(profile)) == {"c1-ml1"}  # the network pool's size is still wrong
    finally:
        site.stop()


def test_a_console_output_without_host_keys_is_refused_unless_the_operator_accepts(
    moto, image, harness_dir, client_key, monkeypatch
):
    """An image whose cloud-init prints no key fingerprints: nothing vouches for the key
    SSH shows, so it is refused, saying how to accept it after checking it by hand."""
    from actions import engine as engine_module
    from actions.provision import action as provision_module
    from console.core.profile import load
    from console.core.transport.ssh import Pool

    monkeypatch.setattr(provision_module, "CONSOLE_WAIT_S", 0.5)  # cloud-init's minute
    monkeypatch.setattr(provision_module, "POLL_S", 0.1)
    monkeypatch.setenv("AWS_CREDS", f"{KEY_ID}:{SECRET}")
    site = Site(harness_dir / "prov-blank", moto, client_key, 2, 67)
    try:
        path = pools_profile(site, "blank-fleet", image, client_key, clusters=1)
        path.write_text(path.read_text().replace("count = 5", "count = 1"))
        site.stand.blank = {h.address for h in site.hosts}
        for accept in (False, True):
            profile = load(str(path))
            pool = Pool.for_profile(profile.model, accept_new=accept)
            engine = engine_module.Engine(profile, pool, Journal(site.state / "j.sqlite"))
            result = engine.apply(provision_module.provision_action())
            pool.close()
            lines = "\n".join(engine.journal.lines(result.run_id))
            if not accept:
                assert result.outcome == "failed"
                assert "lists no host key fingerprints after 0 s" in lines
                assert "--accept-new-host-keys" in lines
                assert nodes_of(path) == {}
            else:
                assert result.outcome == "succeeded", lines
                assert lines.count("recorded as first seen (nothing vouches for it)") == 2
                assert set(nodes_of(path)) == {"c1-network", "c1-ml1"}
        assert len(site.stand.actions("RunInstances")) == 2  # the second run made none
    finally:
        site.stop()


async def test_the_console_provisions_and_the_new_nodes_join_its_fleet_table(
    moto, image, harness_dir, client_key, monkeypatch
):
    """What an operator does in the console: `a`, provision, read the plan (and its
    notes), `y`, type the fleet's name, watch the matrix; back on the fleet table the
    machines are there, probed live like the others."""
    from textual.command import CommandList, CommandPalette
    from textual.widgets import DataTable, OptionList

    from console.app.tui import FleetdeckApp
    from console.core.profile import load
    from screens.actions import ActionPickerScreen, ConfirmNameScreen, PlanScreen, RunScreen
    from screens.fleet import FleetScreen
    from screens.machines import MachinesScreen
    from tests.harness.pilot import on, press_to, until, wait_for

    monkeypatch.setenv("AWS_CREDS", f"{KEY_ID}:{SECRET}")
    site = Site(harness_dir / "prov-console", moto, client_key, 2, 68)
    try:
        path = pools_profile(site, "console-fleet", image, client_key, clusters=1)
        path.write_text(path.read_text().replace("count = 5", "count = 1"))
        app = FleetdeckApp(load(str(path)), live=True)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.press("a")
            assert await until(pilot, lambda: isinstance(app.screen, ActionPickerScreen), 5)
            offered = app.screen.query_one(OptionList)
            for _ in range(offered.option_count):  # down the list to it
                if offered.highlighted_option.id == "provision":
                    break
                await pilot.press("down")
            assert offered.highlighted_option.id == "provision"
            await pilot.press("enter")
            # the plan screen, and its plan drawn: a loaded machine pushes it before composing
            assert await until(
                pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen.query("#plan"), 20
            )
            plan = str(app.screen.query_one("#plan").render())
            assert "ec2 RunInstances p5.48xlarge (8×H100)" in plan
            assert "tcp 8443 from 0.0.0.0/0" in plan
            await pilot.press("y")
            assert await until(pilot, lambda: isinstance(app.screen, ConfirmNameScreen), 5)
            await pilot.press(*"console-fleet", "enter")
            assert await until(pilot, lambda: isinstance(app.screen, RunScreen), 5)
            assert await until(
                pilot, lambda: "succeeded" in str(app.screen.query_one("#run-title").render()), 60
            )
            await pilot.press("escape")
            assert await until(pilot, lambda: isinstance(app.screen, FleetScreen), 5)
            table = app.screen.query_one("#nodes", DataTable)
            assert await until(pilot, lambda: table.row_count == 2, 10)
            names = [str(table.get_cell(row.key, "node")) for row in table.ordered_rows]
            assert names == ["c1-network", "c1-ml1"]
            # the monitor watches them: their state comes from their own probe stream
            assert await until(
                pilot, lambda: app.last_state is not None and len(app.last_state.nodes) == 2, 20
            )
            assert await until(
                pilot, lambda: all(n.reachable for n in app.last_state.nodes.values()), 20
            )
            # the palette's "Cloud machines": the clouds asked again, both machines ok
            palette = await press_to(pilot, "ctrl+p", kind=CommandPalette)
            await pilot.press(*"cloud machines")
            found = palette.query_one(CommandList)
            await wait_for(pilot, lambda: found.option_count, "the palette's search")
            await pilot.press("enter")
            machines = await on(pilot, MachinesScreen)  # pushed, composed and idle
            shown = str(machines.query_one("#machines").render())
            assert shown.startswith("2 ok")
            assert "✓ ok       c1-network: i-" in shown and "✓ ok       c1-ml1: i-" in shown
            await pilot.press("escape")
            await pilot.press("q")
        assert set(nodes_of(path)) == {"c1-network", "c1-ml1"}
    finally:
        site.stop()
