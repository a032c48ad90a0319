"""`fleetdeck import-inventory`: the Gonka plan's Ansible inventory becomes a profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from console.app.cli import cli
from console.core.profile import ProfileError, load
from console.core.stacks.gonka_inventory import import_inventory, parse_inventory

INVENTORY = Path(__file__).resolve().parents[1] / "data" / "gonka-inventory.ini"


def test_import_produces_a_profile_that_check_accepts(tmp_path):
    out = tmp_path / "fleet.toml"
    runner = CliRunner()
    result = runner.invoke(cli, ["import-inventory", str(INVENTORY), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 clusters, 12 nodes" in result.output
    check = runner.invoke(cli, ["check", str(out)])
    assert check.exit_code == 0, check.output

    fleet = load(out).model
    assert fleet.fleet.stack == "gonka"
    assert fleet.ssh.user == "ubuntu"
    assert fleet.ssh.key == "~/.ssh/gonka_ed25519"
    assert [c.name for c in fleet.clusters] == ["cluster1", "cluster2"]
    for cluster, prefix in zip(fleet.clusters, ("10.10.1.", "10.20.1."), strict=True):
        assert [n.role for n in cluster.nodes] == ["network"] + ["ml"] * 5
        assert [n.host for n in cluster.nodes] == [f"{prefix}1{i}" for i in range(6)]
    c1ml5 = fleet.node("gonka-c1-ml5")
    assert c1ml5 is not None and c1ml5.port == 2222
    c2net = fleet.node("gonka-c2-network")
    assert c2net is not None and c2net.user == "admin"
    assert fleet.node("gonka-c2-ml3").gpus == 8


def test_import_says_what_it_could_not_carry_over(tmp_path):
    out = tmp_path / "fleet.toml"
    result = CliRunner().invoke(cli, ["import-inventory", str(INVENTORY), "-o", str(out)])
    assert "not carried over (2" in result.output
    assert "ansible_python_interpreter=/usr/bin/python3" in result.output
    assert "nvidia_driver_version=570" in result.output
    text = out.read_text()
    assert "# not carried over: [all:vars] ansible_python_interpreter" in text


def test_import_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "fleet.toml"
    out.write_text("# mine\n")
    result = CliRunner().invoke(cli, ["import-inventory", str(INVENTORY), "-o", str(out)])
    assert result.exit_code == 1
    assert "already exists; pass --force" in result.output
    assert out.read_text() == "# mine\n"
    forced = CliRunner().invoke(
        cli, ["import-inventory", str(INVENTORY), "-o", str(out), "--force"]
    )
    assert forced.exit_code == 0


def test_host_ranges_unknown_groups_and_bad_addresses(tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text(
        "[cluster1_network_node]\nnet1 ansible_host=10.0.0.1\n"
        "[cluster1_ml_nodes]\nml[01:03].example.com\n"
        "[monitoring]\ngrafana ansible_host=10.0.0.99\n"
    )
    result = import_inventory(inv, "lab")
    profile_nodes = [n.name for n in load_text(tmp_path, result.text).model.clusters[0].nodes]
    assert profile_nodes == ["net1", "ml01.example.com", "ml02.example.com", "ml03.example.com"]
    assert any("grafana" in note and "not imported" in note for note in result.notes)


def test_an_inventory_without_cluster_groups_is_refused(tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text("[webservers]\nweb1\n")
    with pytest.raises(ProfileError, match="no clusterN_network_node"):
        import_inventory(inv)


def test_an_imported_profile_that_would_be_invalid_is_refused(tmp_path):
    inv = tmp_path / "inv.ini"  # the same address twice: a copy-paste slip
    inv.write_text(
        "[cluster1_network_node]\nnet1 ansible_host=10.0.0.1\n"
        "[cluster1_ml_nodes]\nml1 ansible_host=10.0.0.1\n"
    )
    result = CliRunner().invoke(cli, ["import-inventory", str(inv), "-o", str(tmp_path / "x.toml")])
    assert result.exit_code == 1
    assert "10.0.0.1:22 is already used by node 'net1'" in result.output
    assert not (tmp_path / "x.toml").exists()


def test_parser_reads_vars_children_and_quoted_values():
    inv = parse_inventory(
        "[c1_ml_nodes]\nml1 ansible_host=10.0.0.2 note='two words'\n"
        '[c1:children]\nc1_ml_nodes\n[c1:vars]\nansible_user="ops"\n',
        "x.ini",
    )
    assert inv.hosts["ml1"].vars == {"ansible_host": "10.0.0.2", "note": "two words"}
    assert inv.children == {"c1": ["c1_ml_nodes"]}
    assert inv.group_vars == {"c1": {"ansible_user": "ops"}}


def load_text(tmp_path: Path, text: str):
    path = tmp_path / "imported.toml"
    path.write_text(text)
    return load(path)
