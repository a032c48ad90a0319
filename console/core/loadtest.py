"""The provider load test's runner: N requests per node, C at once, each with a deadline,
and the figures an SLO is judged on (operations.md §5).

A request that times out or fails counts: it is a failure in the rates and, in the
percentiles, slower than any answer (hey and oha leave timed-out requests out of theirs,
so 10 timeouts in 200 still read "95 % in 0.57 s"). Where the p95 falls on a failure it is
not a number but "over the timeout".

Each request is the one its stack's adapter describes (console/stacks: `Stack.inference`),
sent to a base URL per node (an SSH forward to the node's own 127.0.0.1, made by the caller).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from console.core.stacks.base import InferenceApi
from console.core.text import printable

TOKENS = 32  # tokens asked of each answer: short jobs, as a provider's are


@dataclass(frozen=True)
class Target:
    node: str
    cluster: str
    api: InferenceApi  # its stack's (console/stacks)
    base: str  # http://127.0.0.1:PORT, reaching the node's inference port
    model: str


@dataclass
class Outcome:
    seconds: float
    ok: bool
    timed_out: bool = False
    error: str = ""
    tokens: int = 0


@dataclass
class NodeResult:
    target: Target
    outcomes: list[Outcome] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    @property
    def timeouts(self) -> int:
        return sum(o.timed_out for o in self.outcomes)

    @property
    def errors(self) -> int:
        return sum(not o.ok and not o.timed_out for o in self.outcomes)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (nearest rank) over every request, failures slower than
        any answer; None where it falls on a failure."""
        return percentile(self.outcomes, q)

    def tokens_per_s(self) -> float:
        """Tokens generated per second of the test's wall time, all requests together."""
        return sum(o.tokens for o in self.outcomes if o.ok) / self.wall_s if self.wall_s else 0.0

    @classmethod
    def of_fleet(cls, results: list[NodeResult]) -> NodeResult:
        """Every node's requests as one: the fleet's figures."""
        return cls(
            FLEET,
            [o for r in results for o in r.outcomes],
            max((r.wall_s for r in results), default=0.0),
        )

    def first_errors(self) -> list[str]:
        seen: dict[str, int] = {}
        for o in self.outcomes:
            if o.error:
                seen[o.error] = seen.get(o.error, 0) + 1
        return [f"{n} × {e}" for e, n in sorted(seen.items(), key=lambda kv: -kv[1])[:3]]


# the fleet as one target, for its figures (nothing is sent to it)
FLEET = Target("fleet", "", InferenceApi("", "", lambda m, p, t: {}, lambda a: 0), "", "")


def percentile(outcomes: list[Outcome], q: float) -> float | None:
    if not outcomes:
        return None
    ranked = sorted(o.seconds if o.ok else math.inf for o in outcomes)
    value = ranked[max(0, math.ceil(q / 100 * len(ranked)) - 1)]
    return None if math.isinf(value) else value


@dataclass(frozen=True)
class Slo:
    p95_s: float
    failed_pct: float  # timeouts and errors together

    def verdict(self, r: NodeResult) -> tuple[bool, list[str]]:
        """(met, what missed it)."""
        missed = []
        p95 = r.percentile(95)
        if p95 is None:
            missed.append("p95 over the timeout (more than 5 % of requests failed)")
        elif p95 > self.p95_s:
            missed.append(f"p95 {p95:.2f} s > {self.p95_s:g} s")
        failed = 100 * (r.timeouts + r.errors) / r.sent if r.sent else 100.0
        if failed > self.failed_pct:
            missed.append(f"{failed:.1f} % failed > {self.failed_pct:g} %")
        return not missed, missed


def read_answer(target: Target, r: httpx.Response) -> tuple[bool, str, int]:
    """(ok, error, tokens generated) of one answer."""
    if r.status_code != 200:
        try:
            said = str(r.json().get("error") or r.text)
        except (ValueError, AttributeError):
            said = r.text
        # a provider's words, kept literal: escape sequences in them (a terminal title, a
        # cleared screen) are shown as escapes, never sent to the operator's terminal
        return False, f"HTTP {r.status_code} {printable(' '.join(said.split())[:80])}", 0
    try:
        return True, "", target.api.tokens(r.json())
    except (ValueError, AttributeError, TypeError):
        return False, "an answer that is not the API's JSON", 0


async def load_node(
    target: Target,
    prompts: list[str],
    requests: int,
    concurrency: int,
    timeout: float,
    deadline: float,
    progress: Callable[[str, Outcome], None],
) -> NodeResult:
    result = NodeResult(target)
    cycle = itertools.cycle(prompts)
    queue = list(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # the deadline is enforced per request below (httpx's own is per read, not total); this
    # one only bounds a request that wait_for could not cancel
    backstop = httpx.Timeout(timeout * 2 + 5)
    async with httpx.AsyncClient(base_url=target.base, limits=limits, timeout=backstop) as client:

        async def one() -> None:
            body = target.api.body(target.model, next(cycle), TOKENS)
            t0 = time.perf_counter()
            try:
                r = await asyncio.wait_for(client.post(target.api.path, json=body), timeout)
                ok, error, tokens = read_answer(target, r)
                outcome = Outcome(time.perf_counter() - t0, ok, False, error, tokens)
            except TimeoutError:
                outcome = Outcome(
                    time.perf_counter() - t0, False, True, f"no answer in {timeout:g} s"
                )
            except httpx.HTTPError as exc:
                outcome = Outcome(time.perf_counter() - t0, False, False, type(exc).__name__)
            result.outcomes.append(outcome)
            progress(target.node, outcome)

        async def worker() -> None:
            while queue and time.monotonic() < deadline:
                queue.pop()
                await one()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
        result.wall_s = time.perf_counter() - start
    return result


async def run_load(
    targets: list[Target],
    prompts: list[str],
    requests: int,
    concurrency: int,
    timeout: float,
    max_seconds: float,
    progress: Callable[[str, Outcome], None] = lambda node, outcome: None,
) -> list[NodeResult]:
    """Every target at once, each with its own `concurrency`; no new request starts after
    `max_seconds` (those under way finish or time out)."""
    deadline = time.monotonic() + max_seconds
    return list(
        await asyncio.gather(
            *(
                load_node(t, prompts, requests, concurrency, timeout, deadline, progress)
                for t in targets
            )
        )
    )
