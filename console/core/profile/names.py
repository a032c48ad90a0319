"""Setting names as a profile writes them, and as the model keeps them.

A stack's own settings go by their bare names in a table of that stack alone: `port` in the
[clusters.settings] of its cluster, or in [stack] of a fleet whose clusters all run it.
Where a table serves several stacks ([stack] of a mixed fleet), or names a setting of a
stack its own builds on (Stack.builds_on), the name carries its stack's prefix
(Stack.key_prefix): `<stack>_port`. The model keeps the prefixed (qualified) names.

A qualified name where the bare one would do is the old name of a setting: it loads as
before, and `fleetdeck check` says its new name (`renamed`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from console.core.profile.problems import PathT
from console.core.profile.schema import OLD_SIGNALS
from console.core.stacks import STACKS


def own(stack: str) -> dict[str, str]:
    """A stack's own settings: bare name -> qualified name (none for a stack whose names
    carry no prefix)."""
    info = STACKS.get(stack)
    if info is None or not info.key_prefix:
        return {}
    p = info.key_prefix
    return {f[len(p) :]: f for f in info.settings.model_fields if f.startswith(p)}


def tables(data: dict[str, Any]) -> Iterator[tuple[PathT, dict[str, Any], set[str]]]:
    """(path, table, the stacks it serves) of [stack] and each [clusters.settings]."""
    fleet = data.get("fleet")
    fleet_stack = fleet.get("stack") if isinstance(fleet, dict) else None
    clusters = data.get("clusters") if isinstance(data.get("clusters"), list) else []
    used = set()
    for ci, cluster in enumerate(clusters):
        if not isinstance(cluster, dict):
            continue
        stack = cluster.get("stack", fleet_stack)
        if isinstance(stack, str):
            used.add(stack)
            settings = cluster.get("settings")
            if isinstance(settings, dict):
                yield ("clusters", ci, "settings"), settings, {stack}
    section = data.get("stack")
    if isinstance(section, dict):
        yield (
            ("stack",),
            section,
            used or ({fleet_stack} if isinstance(fleet_stack, str) else set()),
        )


def qualify(data: dict[str, Any]) -> tuple[dict[PathT, PathT], list[tuple[PathT, str, str]]]:
    """Bare names in `data` turned into the model's qualified ones, in place. Returns
    (qualified path -> the path as written, for locating problems) and the problems found:
    (path, message, fix)."""
    written: dict[PathT, PathT] = {}
    problems: list[tuple[PathT, str, str]] = []
    for path, table, stacks in tables(data):
        for key in list(table):
            owners = [s for s in sorted(stacks) if key in own(s)]
            if not owners:
                continue
            if len(owners) > 1:
                names = " or ".join(own(s)[key] for s in owners)
                problems.append(
                    (
                        (*path, key),
                        f"{key} is a setting of {' and '.join(owners)}, which this table serves "
                        "both",
                        f"write {names} here, or set it in each cluster's [clusters.settings]",
                    )
                )
                continue
            qualified = own(owners[0])[key]
            if qualified in table:
                problems.append(
                    (
                        (*path, key),
                        f"{key} is set twice here: as {key} and by its old name {qualified}",
                        f"keep {key} and remove {qualified}",
                    )
                )
                continue
            table[qualified] = table.pop(key)
            written[(*path, qualified)] = (*path, key)
    return written, problems


def renamed(data: dict[str, Any]) -> list[tuple[PathT, str, str]]:
    """(path, old name, new name) of each setting written by its old, qualified name where
    its bare name would do."""
    out = []
    for path, table, stacks in tables(data):
        if len(stacks) != 1:
            continue
        bare = {q: b for b, q in own(next(iter(stacks))).items()}
        out += [((*path, key), key, bare[key]) for key in table if key in bare]
    trust = data.get("trust")
    if isinstance(trust, dict):
        out += [(("trust", k), k, OLD_SIGNALS[k]) for k in trust if k in OLD_SIGNALS]
    return out


def spelled(stacks: set[str], stack: str, qualified: str) -> str:
    """How a table serving `stacks` writes `stack`'s setting `qualified`."""
    bare = {q: b for b, q in own(stack).items()}
    return bare[qualified] if stacks == {stack} and qualified in bare else qualified
