"""The fake stack's action side: a deploy of one step, run on this machine (it writes a
marker file per node under the directory the test names)."""

from __future__ import annotations

import shlex

from actions.engine import Action, Change, NodeContext, Step
from actions.types import StackActions

MARKERS = {"dir": ""}  # where the markers go: the test's temporary directory


def _marker(ctx: NodeContext) -> str:
    return shlex.quote(f"{MARKERS['dir']}/{ctx.name}")


def installed(ctx: NodeContext) -> Change | None:
    out = ctx.run(f"test -e {_marker(ctx)} && echo yes || echo no", quiet=True)
    return None if out.stdout.strip() == "yes" else Change(f"install fake on {ctx.name}")


def install(ctx: NodeContext, change: Change) -> None:
    ctx.run(f"touch {_marker(ctx)}")


def deploy_action() -> Action:
    return Action(
        name="deploy",
        stacks=("fake",),
        description="deploy the fake stack",
        destructive=True,
        steps=(Step("install", "fake installed", installed, install, local=True, retries=0),),
    )


ACTIONS = StackActions(deploy=deploy_action)
