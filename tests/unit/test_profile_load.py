"""Loading and validating profiles: the examples, every broken profile, and fuzzing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.app.cli import cli
from console.core.profile import ProfileError, load, loads

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "profiles").glob("*.toml"))
BAD = sorted((REPO / "tests" / "data" / "bad").glob("*.toml"))
TEST_PROFILES = sorted((REPO / "tests" / "data").glob("*.toml"))


def expectations(path: Path) -> list[str]:
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    return [line.removeprefix("# expect: ") for line in lines if line.startswith("# expect: ")]


def test_there_are_examples_and_at_least_15_broken_profiles():
    names = {p.name for p in EXAMPLES}
    assert {
        "gonka-two-clusters.toml",
        "ollama-providers.toml",
        "golem-providers.toml",
        "gpu-pools.toml",
        "demo.toml",
    } <= names
    assert len(BAD) >= 15
    assert all(expectations(p) for p in BAD), "each broken profile says what to expect"


@pytest.mark.parametrize("path", EXAMPLES + TEST_PROFILES, ids=lambda p: p.name)
def test_example_profiles_are_valid(path):
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: ok" in result.output


def test_gonka_example_matches_the_seed_deployment():
    fleet = load(REPO / "profiles" / "gonka-two-clusters.toml").model
    assert [c.name for c in fleet.clusters] == ["cluster1", "cluster2"]
    for cluster in fleet.clusters:
        roles = [n.role for n in cluster.nodes]
        assert roles == ["network"] + ["ml"] * 5
        assert all(n.gpus == 8 and n.gpu_type == "H100" for n in cluster.nodes)
        by_role = {n.name.split("-")[1]: n.model for n in cluster.nodes}
        assert by_role["network"] == by_role["ml5"] == "Qwen/Qwen3-32B-FP8"
        assert {by_role[f"ml{i}"] for i in range(1, 5)} == {
            "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8"
        }
    big = fleet.models["Qwen/Qwen3-235B-A22B-Instruct-2507-FP8"].args
    assert big == ["--max-model-len", "240000", "--tensor-parallel-size", "4"]


def test_demo_profile_has_two_gonka_clusters_four_ollama_providers_and_gaudi_servers():
    fleet = load(REPO / "profiles" / "demo.toml").model
    stacks = [(fleet.cluster_stack(c), len(c.nodes)) for c in fleet.clusters]
    assert stacks == [("gonka", 6), ("gonka", 6), ("ollama", 4), ("vllm", 1)]
    assert fleet.clusters[2].nodes[3].gpu_type == "MI300X"  # an AMD provider
    assert {n.gpu_type for n in fleet.clusters[3].nodes} == {"Gaudi 3"}
    assert all(n.gpus == 8 for c in fleet.clusters[:2] for n in c.nodes)


def _old_key_already_present(text):
    # tomlkit < 0.15: a KeyAlreadyPresent with no position
    raise tomlkit.exceptions.KeyAlreadyPresent("host")


def _new_parse_error(text):
    # tomlkit >= 0.15: a ParseError with the line and column of the second key
    raise tomlkit.exceptions.ParseError(21, 0, 'Key "host" already exists.')


@pytest.mark.parametrize(
    "parse", [_old_key_already_present, _new_parse_error, None], ids=["0.13", "0.15", "installed"]
)
def test_a_duplicated_key_names_file_line_path_and_fix_whatever_tomlkit_raises(parse, monkeypatch):
    path = REPO / "tests" / "data" / "bad" / "syntax-duplicate-key.toml"
    if parse is not None:
        monkeypatch.setattr(tomlkit, "parse", parse)
    with pytest.raises(ProfileError) as info:
        load(path)
    (problem,) = info.value.problems
    assert problem.line == 21
    assert problem.path == ("clusters", 0, "nodes", 0, "host")
    assert problem.fix == "remove one of the two clusters[0].nodes[0].host lines"
    assert 'Key "host" already exists' in problem.message
    assert f"{path}:21: clusters[0].nodes[0].host" in str(info.value)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_broken_profile_is_refused_with_every_expected_problem(path):
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for expected in expectations(path):
        assert expected in result.output, f"missing {expected!r} in:\n{result.output}"
    # every problem names its file and a line or a field path
    problem_lines = [line for line in result.output.splitlines() if line.startswith(f"  {path}")]
    assert problem_lines
    for line in problem_lines:
        assert re.match(rf"  {re.escape(str(path))}(:\d+(:\d+)?)?: ", line), line
        located = re.match(rf"  {re.escape(str(path))}:\d+", line) or re.match(
            rf"  {re.escape(str(path))}: [a-z_]+[\w\[\]\.\"/-]*: ", line
        )
        assert located or "not UTF-8" in line, f"no line or field path: {line}"


def test_real_entry_point_prints_no_traceback_on_any_broken_profile():
    proc = subprocess.run(
        [sys.executable, "-m", "console.app.cli", "check", *map(str, BAD)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    for path in BAD:
        assert f"{path}: " in proc.stderr


def test_check_reports_each_file_and_fails_if_any_is_bad():
    result = CliRunner().invoke(cli, ["check", str(EXAMPLES[0]), str(BAD[0])])
    assert result.exit_code == 1
    assert f"{EXAMPLES[0]}: ok" in result.output


def test_missing_file_and_directory_are_problems_not_tracebacks(tmp_path):
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "nope.toml"), str(tmp_path)])
    assert result.exit_code == 1
    assert "nope.toml: file not found" in result.output
    assert "is a directory" in result.output


def test_all_problems_come_in_one_error():
    with pytest.raises(ProfileError) as info:
        load(REPO / "tests" / "data" / "bad" / "many-mistakes.toml")
    assert len(info.value.problems) == 5
    assert all(p.line for p in info.value.problems)


# ---------------------------------------------------------------- property-based

VALID = (REPO / "profiles" / "gonka-two-clusters.toml").read_text()


def _load_outcome(text: str) -> None:
    try:
        profile = loads(text, "fuzz.toml")
    except ProfileError as exc:
        assert exc.problems and all(p.file == "fuzz.toml" for p in exc.problems)
        str(exc)  # formatting a problem never fails either
        return
    assert profile.model.clusters


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_gives_a_profile_or_a_profile_error(text):
    _load_outcome(text)


toml_scalars = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(max_size=20)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.dates()
    | st.times()
)
keys = st.sampled_from(
    [
        "fleet",
        "name",
        "stack",
        "clusters",
        "nodes",
        "host",
        "port",
        "role",
        "model",
        "models",
        "ssh",
        "secrets",
        "labels",
        "gpus",
        "provision",
        "pools",
        "args",
        "token",
        "x",
    ]
) | st.text(min_size=1, max_size=8)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, toml_values, max_size=6))
def test_arbitrary_toml_documents_give_a_profile_or_a_profile_error(data):
    try:
        text = tomlkit.dumps(data)
    except Exception:  # hypothesis made something TOML cannot hold (e.g. mixed arrays)
        return
    _load_outcome(text)


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


VALID_DATA = tomlkit.parse(VALID).unwrap()
VALID_PATHS = [p for p in _paths(VALID_DATA) if p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID_PATHS), toml_values)
def test_a_valid_profile_with_one_value_replaced_never_crashes_the_loader(path, value):
    data = tomlkit.parse(VALID).unwrap()
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    try:
        text = tomlkit.dumps(data)
    except Exception:
        return
    _load_outcome(text)


def test_a_clusters_own_settings_go_over_the_fleets():
    model = load(REPO / "tests" / "data" / "deploy-two-clusters.toml").model
    c1, c2 = model.clusters
    assert model.stack_settings(c1) == model.stack  # nothing of its own: the fleet's
    own = model.stack_settings(c2)
    assert (own.key_name, own.public_url) == ("c2-ml-ops-key", "http://c2.participant.invalid:8000")
    assert own.account_pubkey != model.stack.account_pubkey
    assert own.chain_id == model.stack.chain_id and own.ref == model.stack.ref  # inherited


def test_settings_nothing_reads_yet_are_named_by_check_not_silently_taken(tmp_path):
    text = (REPO / "profiles" / "gonka-two-clusters.toml").read_text()
    odd = tmp_path / "odd.toml"
    odd.write_text(text.replace("[stack]\n", '[stack]\nmlnode_image = "x/mlnode:1"\n', 1))
    result = CliRunner().invoke(cli, ["check", str(odd)])
    assert result.exit_code == 0
    assert "note: [stack] mlnode_image is not used yet: the Gonka deploy runs" in result.output
    providers = CliRunner().invoke(cli, ["check", str(REPO / "profiles" / "ollama-providers.toml")])
    assert "not used yet" not in providers.output  # the load test reads the SLO
    pools = CliRunner().invoke(cli, ["check", str(REPO / "profiles" / "gpu-pools.toml")])
    assert "vllm_image" not in pools.output  # the vLLM deploy reads it
    quiet = CliRunner().invoke(cli, ["check", str(REPO / "profiles" / "demo.toml")])
    assert "not used yet" not in quiet.output


def test_a_valid_profile_that_cannot_deploy_is_flagged_not_ready(tmp_path):
    text = (REPO / "profiles" / "gonka-two-clusters.toml").read_text()
    bare = re.sub(r"(?m)^(ref|seed_api_url|seed_rpc_url|seed_p2p_url) = .*\n", "", text)
    assert bare != text
    path = tmp_path / "bare.toml"
    path.write_text(bare)
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 0  # a valid profile: check accepts it
    out = result.output
    assert "  not ready to deploy:\n" in out
    assert "every cluster: no release to deploy ([stack] ref, e.g. v0.2.14)" in out
    assert f"every cluster: no account key (account_pubkey: `fleetdeck run {path} keys`" in out
    assert "no seeds (seed_api_url, seed_rpc_url, seed_p2p_url" in out
    assert f"fill them with `fleetdeck setup {path}`" in out
    ready = CliRunner().invoke(cli, ["check", str(REPO / "profiles" / "ollama-providers.toml")])
    assert "not ready" not in ready.output
