"""fleetdeck's load-test runner beside `hey` (Debian's package), against the same simulated
Ollama provider in one run: where hey's percentiles leave the timed-out requests out.

Run:  apt-get install hey
      .venv/bin/python tests/bench/bench_loadtest.py [--concurrency 100] [--requests 200]
          [--timeout 2] [--parallel 1]

Starts `fleetdeck sim up` (its own process) on a one-provider Ollama profile whose Ollama
runs with OLLAMA_NUM_PARALLEL = --parallel (1: Ollama's default, one request at a time,
the rest queued), then sends the same requests three ways, one after the other:
  - `fleetdeck loadtest` as an operator runs it (through an SSH forward to the node);
  - fleetdeck's runner straight at the node's address (console/core/loadtest.py);
  - hey at that same address, `-c C -n N -t T`, its latency distribution and error list.
and prints each one's p50/p95/p99, timeouts and errors side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from console.core.loadtest import TOKENS, Slo, Target, run_load  # noqa: E402
from console.core.stacks import STACKS  # noqa: E402
from tests.harness.cli import run  # noqa: E402

PROFILE = """
[fleet]
name = "bench-ollama"
stack = "ollama"

[stack]
ollama_num_parallel = {parallel}

[models."llama3.1:8b"]
vram_gb = 24

[alerts]
inference_p95_s = 2.0
inference_timeout_pct = 2.0

[[clusters]]
name = "b1"

[[clusters.nodes]]
name = "prov1"
host = "10.0.0.1"
role = "provider"
model = "llama3.1:8b"
gpus = 1
gpu_type = "RTX 4090"
"""
PROMPT = "In one sentence: why is the sky blue?"


def fleetdeck(env: dict, *args: str) -> subprocess.CompletedProcess:
    return run(env, *args, timeout=900)


def hey(url: str, concurrency: int, requests: int, timeout: float, model: str) -> dict:
    body = json.dumps(
        {"model": model, "prompt": PROMPT, "stream": False, "options": {"num_predict": TOKENS}}
    )
    out = subprocess.run(
        [
            "hey",
            "-n",
            str(requests),
            "-c",
            str(concurrency),
            "-t",
            f"{timeout:g}",
            "-m",
            "POST",
            "-T",
            "application/json",
            "-d",
            body,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    ).stdout
    pct = {int(p): float(s) for p, s in re.findall(r"^\s+(\d+)%+ in ([\d.]+) secs", out, re.M)}
    errors = {m: int(n) for n, m in re.findall(r"^\s+\[(\d+)\]\s+(.*)$", out, re.M)}
    ok = sum(
        int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out) if code == "200"
    )
    timeouts = sum(n for m, n in errors.items() if "deadline exceeded" in m or "Timeout" in m)
    return {
        "requests": requests,
        "p50": pct.get(50),
        "p95": pct.get(95),
        "p99": pct.get(99),
        "timeouts": timeouts,
        "errors": requests - ok - timeouts,
        "raw": out,
    }


def row(name: str, r: dict, timeout: float, unsaid: str | None = None) -> str:
    """unsaid: what a missing percentile means (hey prints none it cannot fill)."""

    def s(v):
        return (unsaid or f">{timeout:g} s") if v is None else f"{v:.2f} s"

    return (
        f"{name:<34}{r['requests']:>6}{s(r['p50']):>9}{s(r['p95']):>9}{s(r['p99']):>9}"
        f"{r['timeouts']:>10}{r['errors']:>8}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--parallel", type=int, default=1)
    a = ap.parse_args()
    if not shutil.which("hey"):
        sys.exit("hey is not installed: apt-get install hey")
    root = Path(tempfile.mkdtemp(prefix="fdlt-", dir="/tmp"))
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_STATE_HOME=str(root / "state"))
    (root / "fleet.toml").write_text(PROFILE.format(parallel=a.parallel))
    up = fleetdeck(
        env, "sim", "up", str(root / "fleet.toml"), "--dir", str(root / "sim"), "--fresh"
    )
    if up.returncode != 0:
        sys.exit(up.stderr)
    try:
        sim_profile = str(root / "sim" / "profile.toml")
        # the deploy sets OLLAMA_NUM_PARALLEL from the profile, as an operator's would
        deploy = fleetdeck(env, "run", sim_profile, "deploy", "--yes")
        if deploy.returncode != 0:
            print(deploy.stdout[-2000:])
        node = json.loads((root / "sim" / "nodes" / "prov1" / ".sim" / "node.json").read_text())
        address = node["private_address"]
        url = f"http://{address}:11434"
        args = ["--concurrency", str(a.concurrency), "--requests", str(a.requests)]
        ours = fleetdeck(
            env, "loadtest", sim_profile, *args, "--timeout", f"{a.timeout:g}s", "--json"
        )
        doc = json.loads(ours.stdout)["nodes"][0]
        via_ssh = {
            "requests": doc["requests"],
            "p50": doc["p50_s"],
            "p95": doc["p95_s"],
            "p99": doc["p99_s"],
            "timeouts": doc["timeouts"],
            "errors": doc["errors"],
        }
        target = Target("prov1", "b1", STACKS["ollama"].inference, url, "llama3.1:8b")
        [direct] = asyncio.run(
            run_load([target], [PROMPT], a.requests, a.concurrency, a.timeout, 300)
        )
        runner = {
            "requests": direct.sent,
            "p50": direct.percentile(50),
            "p95": direct.percentile(95),
            "p99": direct.percentile(99),
            "timeouts": direct.timeouts,
            "errors": direct.errors,
        }
        theirs = hey(url + "/api/generate", a.concurrency, a.requests, a.timeout, "llama3.1:8b")
    finally:
        fleetdeck(env, "sim", "down", str(root / "sim"))
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"\none simulated Ollama provider, OLLAMA_NUM_PARALLEL={a.parallel}; {a.requests} "
        f"requests, {a.concurrency} at once, {a.timeout:g} s deadline each\n"
    )
    print(f"{'':<34}{'SENT':>6}{'P50':>9}{'P95':>9}{'P99':>9}{'TIMEOUTS':>10}{'ERRORS':>8}")
    print(row("fleetdeck loadtest (SSH forward)", via_ssh, a.timeout))
    print(row("fleetdeck runner (direct)", runner, a.timeout))
    print(row("hey (direct)", theirs, a.timeout, unsaid="-"))
    slo = Slo(2.0, 2.0)
    met, missed = slo.verdict(direct)
    print(f"\nfleetdeck's verdict on the SLO p95 ≤ 2 s, failed ≤ 2 %: {'met' if met else missed}")
    if theirs["timeouts"] and theirs["p95"] is not None and theirs["p95"] <= a.timeout:
        print(
            f"hey says 95 % in {theirs['p95']:.2f} s while {theirs['timeouts']} of "
            f"{a.requests} requests timed out: its percentiles count only the answers"
        )
    print("\nhey's own report:\n" + theirs["raw"])


if __name__ == "__main__":
    main()
