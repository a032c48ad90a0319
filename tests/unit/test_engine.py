"""The engine's scheduling and bookkeeping, with steps that act on an in-memory world.

The commands of real steps are tested over real OpenSSH in
tests/integration/test_deploy_openssh.py; here the steps are plain Python so that
throttles, batches, failure budgets, retries, pause, cancel and resume can be driven
exactly."""

from __future__ import annotations

import threading
import time

import pytest

from actions.engine import Action, Change, Engine, Step, StepFailed, check_options
from console.core.journal import Journal
from console.core.profile import loads
from console.core.secrets import Redactor

PROFILE = """
[fleet]
name = "unit"
stack = "gonka"
[ssh]
parallelism = 8
[[clusters]]
name = "c1"
[[clusters.nodes]]
name = "net1"
host = "10.0.0.1"
role = "network"
{ml1}
[[clusters]]
name = "c2"
[[clusters.nodes]]
name = "net2"
host = "10.0.1.1"
role = "network"
{ml2}
"""


def profile(ml_per_cluster: int = 3):
    def ml(c: int) -> str:
        return "".join(
            f'[[clusters.nodes]]\nname = "c{c}-ml{i}"\nhost = "10.0.{c - 1}.{i + 10}"\n'
            'role = "ml"\n'
            for i in range(1, ml_per_cluster + 1)
        )

    # TOML needs the ML nodes under their own cluster: splice them in after each net node
    text = PROFILE.replace("{ml1}", ml(1)).replace("{ml2}", ml(2))
    return loads(text, "unit.toml")


class World:
    """Per node, which steps are done; and a record of what ran when."""

    def __init__(self) -> None:
        self.done: dict[str, set[str]] = {}
        self.lock = threading.Lock()
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.applied: list[tuple[str, str]] = []
        self.fail: dict[tuple[str, str], int] = {}  # (node, step) -> failures left (-1: always)
        self.gate: dict[str, threading.Event] = {}

    def step(self, name: str, sleep: float = 0.0, **kw) -> Step:
        def check(ctx) -> Change | None:
            if name in self.done.get(ctx.name, set()):
                return None
            return Change(f"make {name}", (f"do {name} on {ctx.name}",))

        def apply(ctx, change: Change) -> None:
            with self.lock:
                self.active[name] = self.active.get(name, 0) + 1
                self.peak[name] = max(self.peak.get(name, 0), self.active[name])
            try:
                if name in self.gate:
                    self.gate[name].wait(10)
                time.sleep(sleep)
                left = self.fail.get((ctx.name, name), 0)
                if left:
                    self.fail[(ctx.name, name)] = left - 1 if left > 0 else -1
                    ctx.on_line("stderr", f"{name} broke on {ctx.name}")
                    raise StepFailed(f"{name} broke")
                ctx.on_line("stdout", f"{name} ok on {ctx.name}")
                with self.lock:
                    self.done.setdefault(ctx.name, set()).add(name)
                    self.applied.append((ctx.name, name))
            finally:
                with self.lock:
                    self.active[name] -= 1

        kw.setdefault("backoff", 0.01)
        return Step(name, name, check, apply, **kw)


class NoPool:
    """The engine only touches the pool between retries; these steps never use SSH."""

    def reset_backoff(self, name: str) -> None:
        pass

    def drop(self, name: str) -> None:
        pass


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite", Redactor())
    yield j
    j.close()


def engine(journal, ml: int = 3, **kw) -> Engine:
    return Engine(profile(ml), NoPool(), journal, redactor=journal.redactor, **kw)  # type: ignore[arg-type]


def test_plan_changes_nothing_and_apply_converges(journal):
    world = World()
    action = Action("deploy", "", (world.step("a"), world.step("b", roles=("ml",))))
    e = engine(journal)
    plan = e.plan(action)
    assert {(i.node, i.step): i.status for i in plan}[("net1", "b")] == "skipped"
    assert sum(i.status == "change" for i in plan) == 8 + 6
    assert world.applied == []
    result = e.apply(action)
    assert result.outcome == "succeeded"
    assert len(world.applied) == 14
    again = e.plan(action)
    assert {i.status for i in again} == {"unchanged", "skipped"}
    rerun = e.apply(action)
    assert {s for steps in rerun.states.values() for s in steps.values()} == {
        "unchanged",
        "skipped",
    }
    assert len(world.applied) == 14


def test_a_step_throttle_caps_nodes_in_that_step(journal):
    world = World()
    # "fast" sleeps a little too: nodes overlap in it for sure, even on a loaded machine
    action = Action(
        "deploy", "", (world.step("fast", sleep=0.05), world.step("ml", sleep=0.05, throttle=2))
    )
    engine(journal, ml=4).apply(action)
    assert world.peak["ml"] == 2
    assert world.peak["fast"] > 2  # other steps are not held back


def test_batches_finish_one_group_before_the_next(journal):
    world = World()
    action = Action("deploy", "", (world.step("a", sleep=0.02),))
    engine(journal, ml=3).apply(action, batch="25%")  # 8 nodes: batches of 2
    order = [n for n, _ in world.applied]
    names = ["net1", "c1-ml1", "c1-ml2", "c1-ml3", "net2", "c2-ml1", "c2-ml2", "c2-ml3"]
    for i in range(0, 8, 2):
        assert set(order[i : i + 2]) == set(names[i : i + 2])


def test_retries_then_success_and_failure_after_retries(journal):
    world = World()
    world.fail[("c1-ml1", "a")] = 2  # fails twice, then works
    world.fail[("c1-ml2", "a")] = -1  # never works
    action = Action("deploy", "", (world.step("a", retries=2), world.step("b")))
    result = engine(journal).apply(action)
    rows = {(r.node, r.step): r for r in journal.steps(result.run_id)}
    assert (rows[("c1-ml1", "a")].state, rows[("c1-ml1", "a")].attempts) == ("done", 3)
    assert (rows[("c1-ml2", "a")].state, rows[("c1-ml2", "a")].attempts) == ("failed", 3)
    assert rows[("c1-ml2", "b")].state == "pending"  # a failed node goes no further
    assert "a broke" in rows[("c1-ml2", "a")].error
    assert result.outcome == "failed" and result.failed_nodes == ["c1-ml2"]
    assert "a broke on c1-ml2" in journal.lines(result.run_id, "c1-ml2", "a")


def test_a_retry_renews_the_connection_only_after_a_command_hung(journal):
    """A node's connection carries other steps' commands and tunnels: a step that failed,
    or whose one channel was closed, is retried on the same connection; only a hung
    command's connection is renewed (the pool drops a dead one itself)."""
    from console.core.transport.ssh import CommandTimeout, ConnectionLost

    raised = {
        "net1": StepFailed("the step's own failure"),
        "net2": ConnectionLost("net2", "its channel was refused or closed; the connection is up"),
        "c1-ml1": CommandTimeout("c1-ml1", "timed out after 5 s"),
    }

    def check(ctx) -> Change | None:
        return None if ctx.name not in raised else Change("make it", ("do it",))

    def apply(ctx, change: Change) -> None:
        raise raised.pop(ctx.name)

    class Recording(NoPool):
        dropped: list[str] = []

        def drop(self, name: str) -> None:
            self.dropped.append(name)

    pool = Recording()
    e = Engine(profile(1), pool, journal, redactor=journal.redactor)  # type: ignore[arg-type]
    result = e.apply(Action("deploy", "", (Step("a", "a", check, apply, retries=1, backoff=0.01),)))
    assert result.outcome == "succeeded" and raised == {}
    assert pool.dropped == ["c1-ml1"]


def test_max_fail_stops_new_work(journal):
    world = World()
    for n in ("net1", "c1-ml1"):
        world.fail[(n, "a")] = -1
    action = Action("deploy", "", (world.step("a", retries=0),))
    result = engine(journal, ml=3).apply(action, batch="2", max_fail="10%")
    # the first batch (net1, c1-ml1) fails: 1 > 10% of 8 already, so no later batch starts
    # (and a node of the batch not yet started when the first failed is not started either)
    assert result.outcome == "stopped"
    assert world.applied == []
    states = {n: s["a"] for n, s in result.states.items()}
    first = [states["net1"], states["c1-ml1"]]
    assert "failed" in first and set(first) <= {"failed", "cancelled"}
    assert {states[n] for n in states if n not in ("net1", "c1-ml1")} == {"cancelled"}


def test_pause_on_first_failure_asks_once_and_no_cancels(journal):
    world = World()
    world.fail[("net1", "a")] = -1
    asked = []
    action = Action("deploy", "", (world.step("a", retries=0), world.step("b", sleep=0.01)))
    e = engine(journal, ml=1, parallelism=1)  # one node at a time: the order is fixed
    result = e.apply(action, pause_on_failure=lambda node, err: asked.append(node) or False)
    assert asked == ["net1"]
    assert result.outcome == "cancelled"
    assert world.applied == []  # nothing started after the operator said no


def test_cancel_lets_running_steps_finish_and_starts_nothing_new(journal):
    world = World()
    world.gate["a"] = threading.Event()
    action = Action("deploy", "", (world.step("a"), world.step("b")))
    e = engine(journal, ml=1)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", e.apply(action)))
    t.start()
    time.sleep(0.2)
    e.cancel()
    world.gate["a"].set()
    t.join(10)
    result = box["r"]
    assert result.outcome == "cancelled"
    assert {s for _, s in world.applied} == {"a"}  # the running step finished
    assert {s["b"] for s in result.states.values()} == {"cancelled"}


def test_resume_runs_only_what_is_unfinished(journal):
    world = World()
    world.fail[("c2-ml1", "b")] = -1
    action = Action("deploy", "", (world.step("a"), world.step("b", retries=0), world.step("c")))
    e = engine(journal, ml=1)
    first = e.apply(action)
    assert first.outcome == "failed"
    applied_before = list(world.applied)
    world.fail.clear()
    second = engine(journal, ml=1).apply(action, resume=first.run_id)
    assert second.run_id == first.run_id and second.outcome == "succeeded"
    assert world.applied[len(applied_before) :] == [("c2-ml1", "b"), ("c2-ml1", "c")]
    with pytest.raises(StepFailed, match="no run nope"):
        e.apply(action, resume="nope")


def test_limit_takes_names_roles_and_clusters(journal):
    e = engine(journal, ml=2)
    names = lambda words: [n.name for _, n in e.targets(words)]  # noqa: E731
    assert names(["net2"]) == ["net2"]
    assert names(["ml"]) == ["c1-ml1", "c1-ml2", "c2-ml1", "c2-ml2"]
    assert names(["cluster:c2"]) == ["net2", "c2-ml1", "c2-ml2"]
    assert names(["role:network", "c1-ml2"]) == ["net1", "c1-ml2", "net2"]
    with pytest.raises(StepFailed, match="--limit nosuch: no node, role or cluster"):
        e.targets(["nosuch"])


def test_secrets_are_masked_in_plan_journal_and_events(journal):
    secret = "hunter2-very-secret"
    journal.redactor.register(secret)
    seen = []

    def check(ctx):
        return None if getattr(ctx, "done", False) else Change(f"set pw={secret}", (f"x {secret}",))

    def apply(ctx, change):
        ctx.on_line("stdout", f"using {secret}")
        ctx.done = True

    action = Action("deploy", "", (Step("s", "s", check, apply, verify=lambda ctx: None),))
    e = engine(journal, ml=0)
    e.subscribe(seen.append)
    plan = e.plan(action)
    assert plan[0].change.summary == "set pw=***" and plan[0].change.commands == ("x ***",)
    result = e.apply(action)
    assert result.outcome == "succeeded"
    assert not [ev for ev in seen if secret in ev.text]
    assert journal.lines(result.run_id) and not [
        x for x in journal.lines(result.run_id) if secret in x
    ]
    assert journal.path.read_bytes().find(secret.encode()) == -1


@pytest.mark.parametrize(
    ("batch", "max_fail", "message"),
    [
        ("0", None, "at least one node"),
        ("x", None, "--batch x: write a number"),
        (None, "150%", "between 0% and 100%"),
        (None, "a%", "--max-fail a%"),
    ],
)
def test_bad_batch_and_max_fail_are_refused(batch, max_fail, message):
    with pytest.raises(StepFailed, match=message):
        check_options(batch, max_fail)


def test_a_local_step_runs_its_commands_on_this_machine(journal, tmp_path):
    marker = tmp_path / "made"

    def check(ctx) -> Change | None:
        out = ctx.run(f"test -e {marker}/{ctx.name} && echo yes || echo no", quiet=True)
        return None if out.stdout.strip() == "yes" else Change(f"touch {ctx.name}")

    def apply(ctx, change: Change) -> None:
        ctx.run(f"mkdir -p {marker} && touch {marker}/{ctx.name} && echo made {ctx.name}")

    action = Action("prepare", "", (Step("touch", "touch", check, apply, local=True),))
    e = engine(journal, ml=1)  # NoPool: any SSH use would fail the step
    result = e.apply(action)
    assert result.outcome == "succeeded", journal.steps(result.run_id)
    assert sorted(p.name for p in marker.iterdir()) == ["c1-ml1", "c2-ml1", "net1", "net2"]
    assert journal.lines(result.run_id, "net1", "touch") == ["made net1"]
    assert {i.status for i in e.plan(action)} == {"unchanged"}


def test_a_failed_commands_message_keeps_the_line_that_says_why():
    from actions.engine import _gist

    git = [
        "Cloning into '/opt/gonka'...",
        "ERROR: Repository not found.",
        "fatal: Could not read from remote repository.",
        "",
        "Please make sure you have the correct access rights",
        "and the repository exists.",
    ]
    assert _gist(git) == [
        "ERROR: Repository not found.",
        "fatal: Could not read from remote repository.",
        "Please make sure you have the correct access rights",
        "and the repository exists.",
    ]
    assert _gist(["a", "b", "", "c", "d"]) == ["b", "c", "d"]
    assert _gist(["E: Unable to locate package nvidia-container-toolkit"]) == [
        "E: Unable to locate package nvidia-container-toolkit"
    ]


def test_nodes_of_a_stack_without_the_action_are_listed_not_left_out(journal):
    mixed = PROFILE.replace("{ml1}", "").replace(
        '[[clusters]]\nname = "c2"\n[[clusters.nodes]]\nname = "net2"\nhost = "10.0.1.1"\n'
        'role = "network"\n{ml2}',
        '[[clusters]]\nname = "p1"\nstack = "ollama"\n[[clusters.nodes]]\nname = "prov1"\n'
        'host = "10.0.1.1"\nrole = "provider"\n',
    )
    world = World()
    action = Action("deploy", "", (world.step("a"),), stacks=("gonka",))
    e = Engine(loads(mixed, "mixed.toml"), NoPool(), journal, redactor=journal.redactor)  # type: ignore[arg-type]
    items = {(i.node, i.step): i for i in e.plan(action)}
    assert items[("net1", "a")].status == "change"
    skipped = items[("prov1", "deploy")]
    assert skipped.status == "skipped" and skipped.reason == "no deploy for stack ollama yet"
    # --limit naming only such a node is not "unknown": it is said the same way
    only = e.plan(action, limit=["prov1"])
    assert [(i.node, i.reason) for i in only] == [("prov1", "no deploy for stack ollama yet")]
    assert e.targets(["p1"], action) == []
    with pytest.raises(StepFailed, match="no node, role or cluster"):
        e.plan(action, limit=["nosuch"])


def test_a_handler_is_planned_when_the_step_it_follows_changes(journal):
    world = World()
    seen = []

    def foresee(ctx, because):
        seen.append((ctx.name, tuple(because)))
        return Change(f"restart after {', '.join(because)}", ("restart it",))

    handler = Step(
        "restart", "restart", lambda ctx: None, lambda ctx, c: None, after=("a",), foresee=foresee
    )
    e = engine(journal, ml=0)
    items = {(i.node, i.step): i for i in e.plan(Action("deploy", "", (world.step("a"), handler)))}
    assert items[("net1", "restart")].status == "change"
    assert items[("net1", "restart")].change.summary == "restart after a"
    world.done = {"net1": {"a"}, "net2": {"a"}}  # nothing to change: the handler has no cause
    items = {(i.node, i.step): i for i in e.plan(Action("deploy", "", (world.step("a"), handler)))}
    assert items[("net1", "restart")].status == "unchanged"


def test_an_exact_step_writes_what_the_plan_showed_or_nothing(journal):
    content = {"net1": "v1", "net2": "v1"}
    written = {}

    def check(ctx):
        if written.get(ctx.name) == content[ctx.name]:
            return None
        return Change("write config", ("write /etc/x",), f"+{content[ctx.name]}\n")

    def apply(ctx, change):
        written[ctx.name] = change.diff.strip("+\n")

    action = Action("deploy", "", (Step("config", "config", check, apply, exact=True, retries=0),))
    e = engine(journal, ml=0)
    planned = e.plan(action)
    content["net2"] = "v2"  # the node (or profile) changes between plan and run
    events = []
    e.subscribe(events.append)
    result = e.apply(action, planned=planned)
    assert result.states["net1"]["config"] == "done" and written["net1"] == "v1"
    assert result.states["net2"]["config"] == "failed" and "net2" not in written
    said = [ev.text for ev in events if ev.node == "net2" and ev.state == "failed"]
    assert said and "not what the plan showed" in said[0] and "plan again" in said[0]


class ScriptedPool(NoPool):
    """Answers a node's commands as a host would: containers running, a health URL silent."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, name, command, timeout=None, stdin=None, on_line=None):
        from types import SimpleNamespace

        self.ran.append(command)
        if command.startswith("docker ps"):
            return SimpleNamespace(exited=0, stdout="svc\trunning\n", stderr="")
        if "urllib.request" in command:  # the health URL: never answers
            return SimpleNamespace(exited=1, stdout="no answer: connection refused", stderr="")
        if "docker compose version" in command:
            return SimpleNamespace(exited=0, stdout="docker compose\n", stderr="")
        return SimpleNamespace(exited=0, stdout="", stderr="")


def test_a_bring_up_whose_health_never_answers_fails_again_on_resume(journal):
    from actions.stacks.gonka import BringUp

    up = BringUp(
        lambda ctx: ["svc"],
        lambda ctx: "up -d svc",
        lambda ctx: "http://127.0.0.1:9/health",
        0.1,
        "the service",
    )
    action = Action("deploy", "", (Step("bring-up", "bring-up", up.check, up.apply, retries=0),))
    pool = ScriptedPool()
    e = Engine(profile(0), pool, journal, redactor=journal.redactor)  # type: ignore[arg-type]
    first = e.apply(action, ["net1"])
    assert first.states["net1"]["bring-up"] == "failed"
    # the containers run, but running is not serving: the next attempt waits again, and
    # fails again, instead of finding them running and recording "unchanged"
    again = e.apply(action, ["net1"], resume=first.run_id)
    assert again.states["net1"]["bring-up"] == "failed", again.states
    assert sum("urllib.request" in c for c in pool.ran) >= 4  # checked and waited, twice


@pytest.mark.parametrize(
    "sneaky",
    [
        lambda ctx, where: ctx.write(f"{where}/{ctx.name}", "changed by a check\n"),
        lambda ctx, where: ctx.run(f"mkdir -p {where}/{ctx.name}", quiet=True),
        lambda ctx, where: ctx.run(f"echo changed > {where}/{ctx.name}", quiet=True),
        lambda ctx, where: ctx.run(f"true && sudo -n rm -rf {where}/{ctx.name}", quiet=True),
    ],
    ids=["write", "mkdir", "redirect", "sudo-rm"],
)
def test_a_check_that_changes_the_node_fails_in_plan_mode_and_changes_nothing(
    journal, tmp_path, sneaky
):
    """Check mode is enforced, not a convention: a check's context refuses writes and
    commands that change a node, in a plan and in a run's checks alike."""
    where = tmp_path / "node"
    where.mkdir()
    (where / "kept").write_text("the node's own file\n")

    def check(ctx) -> Change | None:
        ctx.run(f"cat {where}/kept >/dev/null 2>&1; awk '$1 > 0' /dev/null", quiet=True)  # reads
        sneaky(ctx, where)
        return None

    action = Action("prepare", "", (Step("sneaky", "sneaky", check, None, local=True, retries=0),))
    e = engine(journal, ml=1)
    plan = e.plan(action)
    assert {i.status for i in plan} == {"error"}, plan
    assert all("a check may not change the node (plan mode)" in i.reason for i in plan)
    result = e.apply(action)
    assert result.outcome == "failed"
    assert sorted(p.name for p in where.iterdir()) == ["kept"]  # nothing made, nothing gone
