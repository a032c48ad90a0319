"""Provisioning's parts that need no cloud: pools in the profile, planned machines, the
firewall a stack asks for, cloud errors in the operator's words, cloud-init's console."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from libcloud.common.types import InvalidCredsError

from actions.provision.action import planned
from actions.provision.clouds import CLUSTER, WORLD, Rule, firewall_rules, refusal
from actions.provision.hostkeys import vouched
from actions.types import StepFailed, StepRefused
from console.core.profile import ProfileError, loads

HEAD = """
[fleet]
name = "f"
stack = "gonka"

[[clusters]]
name = "c1"
"""


def pool(name: str, role: str, **extra) -> str:
    lines = [
        "[[provision.pools]]",
        f'name = "{name}"',
        'driver = "ec2"',
        'region = "us-east-1"',
        'size = "p5.48xlarge"',
        'image = "ami-1"',
        'cluster = "c1"',
        f'role = "{role}"',
        'credentials = "env:AWS"',
    ] + [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def two_pools(**ml) -> str:
    return (
        HEAD
        + pool("net", "network", names='"{cluster}-network"')
        + pool("ml", "ml", **({"count": 5, "names": '"{cluster}-ml{n}"'} | ml))
    )


def test_a_cluster_filled_by_pools_is_valid_before_its_machines_exist():
    model = loads(two_pools()).model
    assert model.clusters[0].nodes == []
    names = [n.name for _, n in planned(model)]
    assert names == ["c1-network", *(f"c1-ml{n}" for n in range(1, 6))]
    first = planned(model)[1][1]
    assert (first.role, first.gpus, first.gpu_type, first.labels) == (
        "ml",
        8,
        "H100",
        {"pool": "ml"},
    )


def test_ml_nodes_may_come_up_before_their_network_node():
    profile = loads(two_pools())
    profile.add_node("c1", name="c1-ml2", host="10.0.0.2", role="ml")
    profile.add_node("c1", before="c1-ml2", name="c1-ml1", host="10.0.0.1", role="ml")
    assert [n.name for n in profile.model.clusters[0].nodes] == ["c1-ml1", "c1-ml2"]
    # a planned machine already in the profile is that node
    assert planned(profile.model)[1][1].host == "10.0.0.1"
    profile.remove_node("c1-ml1")
    profile.remove_node("c1-ml2")  # the last one: the pools fill the cluster again
    assert profile.model.clusters[0].nodes == []


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (two_pools(names='"{cluster}-ml"'), "names", "5 machines would all be named 'c1-ml'"),
        (
            two_pools(names='"{cluster}-{zone}"'),
            "names",
            "does not make node names: only {pool}, {cluster}, {role} and {n}",
        ),
        (
            HEAD + pool("net", "network", count=2, names='"n{n}"'),
            "count",
            "exactly one 'network' node",
        ),
        (
            HEAD + pool("az", "network").replace('"ec2"', '"azure"'),
            "resource_group",
            "an Azure pool needs the resource group",
        ),
        (two_pools(open_ports="[9200]"), "open_ports[0]", "port 9200 is a private gonka port"),
        (
            two_pools(names='"C1.ml{n}"').replace('"ec2"', '"gce"'),
            "names",
            "cannot name a GCE instance",
        ),
    ],
)
def test_a_bad_pool_is_named_with_its_field_and_fix(text, field, words):
    with pytest.raises(ProfileError) as caught:
        loads(text)
    said = str(caught.value)
    assert f".{field}: " in said and words in said and "fix:" in said


def test_the_firewall_opens_the_stacks_public_ports_and_ssh_only():
    model = loads(two_pools(ssh_from='["203.0.113.0/24"]', open_ports="[9000]")).model
    rules = {Rule(r.port, r.source) for r in firewall_rules(model, model.provision.pools[1])}
    assert rules == {
        Rule(22, WORLD),  # the network pool keeps the default ssh_from
        Rule(22, "203.0.113.0/24"),
        Rule(5000, WORLD),
        Rule(8000, WORLD),
        Rule(8443, WORLD),
        Rule(9000, WORLD),
        Rule(0, CLUSTER),
    }
    for private in (26657, 9100, 9200, 5050, 8080):
        assert all(r.port != private for r in rules)


def test_cloud_errors_say_the_pool_what_failed_and_the_fix():
    p = loads(two_pools()).model.provision.pools[1]
    creds = refusal(p, "creating c1-ml1", InvalidCredsError("AuthFailure: AWS was not able"))
    assert isinstance(creds, StepRefused)
    assert str(creds).startswith("pool ml (ec2 us-east-1): creating c1-ml1: the cloud refused")
    assert "env:AWS" in str(creds)
    quota = refusal(p, "creating c1-ml3", Exception("InstanceLimitExceeded: You have requested"))
    assert isinstance(quota, StepRefused) and "quota" in str(quota) and "--resume" in str(quota)
    down = refusal(p, "listing", ConnectionError("connection refused"))
    assert not isinstance(down, StepRefused) and "did not answer" in str(down)


def fp(public: str) -> str:
    digest = hashlib.sha256(base64.b64decode(public.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def test_cloud_inits_console_output_vouches_for_its_keys():
    ed = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    console = (
        "[  9.8] cloud-init[1012]: Generating public/private ed25519 key pair.\n"
        "ec2: #############################################################\n"
        "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
        "ec2: 256 SHA256:3ZfCq0o1JmXc0Gq1d1VgQz2uQn9xQ4c6E9l0k2aB7cE root@ip-10-0-0-5 (ECDSA)\n"
        "ec2: -----END SSH HOST KEY FINGERPRINTS-----\n"
        "-----BEGIN SSH HOST KEY KEYS-----\n"
        f"{ed} root@ip-10-0-0-5\n"
        "-----END SSH HOST KEY KEYS-----\n"
    )
    assert vouched(console) == {"SHA256:3ZfCq0o1JmXc0Gq1d1VgQz2uQn9xQ4c6E9l0k2aB7cE", fp(ed)}
    # fingerprints outside the block (a user's own echo) vouch for nothing
    assert vouched("256 SHA256:3ZfCq0o1JmXc0Gq1d1VgQz2uQn9xQ4c6E9l0k2aB7cE x (ED25519)") is None
    assert vouched("Linux version 6.8.0 ...\nlogin:") is None


def test_provisioning_a_profile_without_pools_says_how_to_add_one():
    text = HEAD + '\n[[clusters.nodes]]\nname = "n"\nhost = "10.0.0.1"\nrole = "network"\n'
    with pytest.raises(StepFailed, match=r"no \[\[provision.pools\]\]: add one"):
        planned(loads(text).model)


def test_a_gce_machines_pool_label_names_the_profiles_pool():
    """GCE lowercases labels: a machine of pool "A3-Pool" says its pool by that name, so
    `provision destroy` of an orphan finds the pool's credentials."""
    from types import SimpleNamespace

    from actions.provision.gce import Gce
    from console.core.secrets import REDACTOR

    text = two_pools().replace('"ec2"', '"gce"').replace('name = "ml"', 'name = "A3-Pool"')
    model = loads(text.replace("{cluster}-ml{n}", "c1-ml{n}")).model
    cloud = Gce(model, model.provision.pools[1], REDACTOR)
    labels = cloud.tags("c1-ml1")
    assert labels["fleetdeck-pool"] == "a3-pool"
    node = SimpleNamespace(
        name="c1-ml1",
        extra={"labels": labels, "status": "RUNNING"},
        state="running",
        public_ips=["127.0.0.9"],
        private_ips=[],
    )
    machine = cloud._machine(node)
    assert (machine.pool, machine.node, machine.state) == ("A3-Pool", "c1-ml1", "running")
