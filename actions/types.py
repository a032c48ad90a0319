"""What actions are made of and what they report: steps, changes, plans and run events.

Plain data, importing nothing that talks to a node, so that screens and reports can show
plans and runs without pulling in SSH (DESIGN: screens never reach SSH or HTTP). The
engine (actions/engine.py) runs them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from console.core.journal import FAILED

if TYPE_CHECKING:
    from actions.engine import NodeContext
    from console.core.profile.schema import Cluster, FleetProfile, Node


class StepFailed(Exception):
    """A step could not do its job; the message says why and, where known, what to do."""


class StepRefused(StepFailed):
    """A failure no retry can cure (a quota, refused credentials): said at once."""


class StepSkipped(Exception):
    """A step has nothing to do on this node yet; the message says why (and when it will)."""


@dataclass(frozen=True)
class Change:
    """What a step would change on a node: a summary, the exact commands, file diffs."""

    summary: str
    commands: tuple[str, ...] = ()
    diff: str = ""
    # what apply writes, exactly as the check computed it (a file's content): not shown,
    # never compared, so a plan and its run write the same thing
    payload: tuple = field(default=(), compare=False, repr=False)


def file_diff(have: str | None, want: str, path: str) -> str:
    """A plan's diff of a file: what the node has (None: no file yet) against what it will."""
    import difflib  # noqa: PLC0415 - only where a file changes

    return "\n".join(
        difflib.unified_diff(
            (have or "").splitlines(),
            want.splitlines(),
            "now" if have is not None else "(none)",
            path,
            lineterm="",
        )
    )


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    check: Callable[[NodeContext], Change | None]
    # None: a check-only step (preflight, validation) that passes or raises StepFailed
    apply: Callable[[NodeContext, Change], None] | None = None
    verify: Callable[[NodeContext], None] | None = None  # default: check finds nothing to do
    roles: tuple[str, ...] = ()  # empty: every role
    when: Callable[[NodeContext], bool] | None = None  # e.g. only nodes that serve a model
    retries: int = 2
    backoff: float = 2.0
    timeout: float | None = None  # per command; the profile's command_timeout when None
    throttle: int | None = None  # at most this many nodes in this step at once
    local: bool = False  # runs on the operator's machine, not on the node
    progress: re.Pattern[str] | None = None  # a line matching it (group "pct") is progress
    # a handler (Ansible's): it acts on what these earlier steps change. In a plan, where
    # one of them changes the node, `foresee(ctx, those steps)` says what this one will do
    # (its own check cannot see a change not made yet); a run uses its check as usual.
    after: tuple[str, ...] = ()
    foresee: Callable[[NodeContext, list[str]], Change | None] | None = None
    # a run writes what its plan showed: when the node changed in between (another diff
    # than the plan's), the step fails and asks for a new plan instead of writing
    exact: bool = False


@dataclass(frozen=True)
class Action:
    name: str
    description: str
    steps: tuple[Step, ...]
    destructive: bool = False  # asks for the fleet's name to be typed before apply
    stacks: tuple[str, ...] = ()  # the stacks it knows; empty: every stack
    # the nodes it acts on, where they are not (all) in the profile yet: provisioning's
    # planned machines. None: the profile's nodes
    targets: Callable[[FleetProfile], list[tuple[Cluster, Node]]] | None = None
    # what the plan must say besides its steps (what a cloud's driver cannot do)
    notes: Callable[[FleetProfile], list[str]] | None = None
    # one node at a time, no new node after one fails (an upgrade's rule), unless the run's
    # --batch and --max-fail say otherwise
    serial: bool = False
    # what a run must be told that the console does not ask (an upgrade's --to): such an
    # action is run from the command line only, and the console's picker leaves it out
    cli_options: str = ""


@dataclass(frozen=True)
class PlanItem:
    node: str
    step: str
    status: str  # unchanged | change | skipped | after | error
    change: Change | None = None
    reason: str = ""


class EventKind(StrEnum):
    RUN = "run"  # the run started or ended (state: its outcome)
    STATE = "state"  # a step of a node changed state
    LINE = "line"  # a line of a step's output
    PROGRESS = "progress"  # a step's progress (a download's percent)


@dataclass(frozen=True)
class Event:
    """What subscribers (screens, the CLI) see of a run as it happens."""

    kind: EventKind
    run_id: str
    node: str = ""
    step: str = ""
    state: str = ""
    text: str = ""
    attempt: int = 0
    progress: float | None = None
    timeout: float | None = None  # a running step's limit per command, in seconds


@dataclass
class Output:
    exit: int
    stdout: str
    stderr: str


@dataclass
class RunResult:
    run_id: str
    outcome: str  # succeeded | failed | cancelled | stopped (failure budget exceeded)
    states: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> step -> state

    @property
    def failed_nodes(self) -> list[str]:
        return [n for n, steps in self.states.items() if FAILED in steps.values()]


class Doctor(NamedTuple):
    """A stack's registration doctor: what `fleetdeck doctor` and the console's registration
    panel run for a cluster, and through the node of which role (the one that sees the chain)."""

    diagnose: Callable[[NodeContext], list]  # the findings (the stack's own Finding)
    role: str


@dataclass(frozen=True)
class StackActions:
    """A stack's action side, in one table in its own module: its deploy, the actions it
    adds by name (Gonka's keys and register) and its registration doctor, if it has one.
    actions/registry.py lists one per stack."""

    deploy: Callable[[], Action]
    more: dict[str, Callable[[], Action]] = field(default_factory=dict)
    doctor: Doctor | None = None
    # the remedies its adapter offers (Stack.remedy), by name: (pool, node, target) -> what
    # was done, in words; a failure raises StepFailed
    remedies: dict[str, Callable[[Any, str, str], str]] = field(default_factory=dict)
    # checks it adds to `preflight`, run on its own nodes only (a runtime's host needs)
    preflight: tuple[Step, ...] = ()
