"""The load test's figures: failures count in every percentile, and the SLO verdict; and
the command refuses to aim anywhere the profile does not name."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from console.app.cli import cli
from console.core.loadtest import NodeResult, Outcome, Slo, Target, percentile
from console.core.stacks import STACKS

REPO = Path(__file__).resolve().parents[2]
T = Target("p1", "c1", STACKS["ollama"].inference, "http://127.0.0.1:1", "m")


def answers(*seconds: float) -> list[Outcome]:
    return [Outcome(s, True, tokens=8) for s in seconds]


def test_a_timeout_is_slower_than_any_answer_in_the_percentiles():
    fast = answers(*([0.1] * 94))
    timed_out = [Outcome(2.0, False, True, "no answer in 2 s")] * 6
    # hey would say 95 % in 0.1 s: only the answers counted
    assert percentile(fast, 95) == 0.1
    assert percentile(fast + timed_out, 95) is None  # it falls on a timeout
    assert percentile(fast + timed_out, 50) == 0.1
    refused = [Outcome(0.001, False, False, "HTTP 503 server busy")] * 6
    assert percentile(fast + refused, 95) is None  # a quick 503 is no fast answer


def test_the_slo_verdict_names_what_missed_it():
    slo = Slo(p95_s=2.0, failed_pct=2.0)
    ok = NodeResult(T, answers(*([0.5] * 99)) + [Outcome(2.0, False, True)], wall_s=1.0)
    assert slo.verdict(ok) == (True, [])
    slow = NodeResult(T, answers(*([2.5] * 100)), wall_s=1.0)
    assert slo.verdict(slow) == (False, ["p95 2.50 s > 2 s"])
    failing = NodeResult(T, answers(*([0.5] * 96)) + [Outcome(0.01, False)] * 4, wall_s=1.0)
    assert slo.verdict(failing) == (False, ["4.0 % failed > 2 %"])
    assert ok.tokens_per_s() == 99 * 8
    assert NodeResult(T, [], 0.0).percentile(95) is None


def test_the_command_sends_only_where_the_profile_says(tmp_path):
    profile = str(REPO / "profiles" / "ollama-providers.toml")
    run = CliRunner().invoke(cli, ["loadtest", profile, "--via", "public"])
    assert run.exit_code == 1
    assert "use-4090-1 has no public_url in the profile" in run.output
    chain_only = tmp_path / "chain.toml"
    chain_only.write_text(
        '[fleet]\nname = "f"\nstack = "gonka"\n[[clusters]]\nname = "c1"\n'
        '[[clusters.nodes]]\nname = "net1"\nhost = "10.0.0.1"\nrole = "network"\n'
    )
    run = CliRunner().invoke(cli, ["loadtest", str(chain_only)])
    assert run.exit_code == 1 and "no inference provider to load" in run.output
    assert "net1 (serves no model)" in run.output
    run = CliRunner().invoke(cli, ["loadtest", profile, "--timeout", "soon"])
    assert run.exit_code == 2 and "is not a duration" in run.output


def test_a_providers_error_body_is_shown_literally_on_one_line():
    import httpx

    from console.core.loadtest import read_answer

    hostile = '{"error": "busy\\u001b]0;pwned\\u0007\\u001b[2J\\nsecond line"}'
    r = httpx.Response(503, text=hostile, headers={"Content-Type": "application/json"})
    ok, error, tokens = read_answer(T, r)
    assert not ok and tokens == 0
    assert "\x1b" not in error and "\x07" not in error and "\n" not in error
    assert error == "HTTP 503 busy\\x1b]0;pwned\\x07\\x1b[2J second line"
    raw = httpx.Response(502, text="<h1>bad\x1b[31m gateway</h1>")  # not JSON either
    assert read_answer(T, raw)[1] == "HTTP 502 <h1>bad\\x1b[31m gateway</h1>"
