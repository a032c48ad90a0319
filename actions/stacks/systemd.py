"""A host service as systemd sees it, for the deploys that run one (Ollama's, Golem's):
its state, when it last started and when its files last changed, in one command, and
whether it runs what its files now say."""

from __future__ import annotations

from actions.engine import NodeContext


def unit_facts(ctx: NodeContext, unit: str, files: str, props: tuple[str, ...] = ()) -> dict:
    """`systemctl show` of `unit` (LoadState, ActiveState, UnitFileState, NeedDaemonReload
    and `props`), with Started (when it last started) and Written (the newest mtime of
    `files`, shell words already quoted), both in seconds of the node's clock."""
    show = f"systemctl show {unit}"
    asked = " ".join(
        f"-p {p}" for p in ("LoadState", "ActiveState", "UnitFileState", "NeedDaemonReload", *props)
    )
    out = ctx.run(
        f"{show} {asked}; "
        f"started=$({show} -p ActiveEnterTimestamp --value); "
        'printf "Started=%s\\n" "$(date -d "$started" +%s 2>/dev/null)"; '
        f'printf "Written=%s\\n" "$({ctx.sudo}stat -c %Y {files} 2>/dev/null | sort -n | tail -1)"',
        quiet=True,
        check=False,
    )
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def runs_stale(facts: dict) -> str | None:
    """Why the running service is not what its files say (a reload or a restart owed), or
    None."""
    if facts.get("NeedDaemonReload") == "yes":
        return "its files changed since systemd read them"
    started, written = facts.get("Started", ""), facts.get("Written", "")
    if started.isdigit() and written.isdigit() and int(written) > int(started):
        return "its files changed after it started"
    return None


def not_running(facts: dict) -> str | None:
    """Why it is not up for good (not active, or not enabled at boot), or None."""
    if facts.get("ActiveState") != "active" or facts.get("UnitFileState") != "enabled":
        return f"it is {facts.get('ActiveState')}, {facts.get('UnitFileState')}"
    return None
