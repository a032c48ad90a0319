"""`fleetdeck …` subcommands, one module per command group. `fleetdeck PROFILE` opens the
console on a profile. The exit codes are in group.py (and README's table)."""

from __future__ import annotations

import os
import sys

import click

# each module registers its commands on the group
from console.app.cli import (  # noqa: F401
    actions,
    console,
    doctor,
    history,
    journal,
    loadtest,
    notify,
    pools,
    profiles,
    proposals,
    provision,
    setup,
    signing,
    sim,
    status,
    watch,
)
from console.app.cli.group import (
    EXIT_CANCELLED,
    EXIT_CRITICAL,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INVALID,
    EXIT_USAGE,
    cli,
)

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_CRITICAL",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INVALID",
    "EXIT_USAGE",
    "cli",
    "main",
]


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except SystemExit:
        raise
    except click.UsageError as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.Abort):
        click.echo("cancelled", err=True)
        sys.exit(EXIT_CANCELLED)
    except Exception as exc:  # the operator gets a sentence, not a traceback
        if os.environ.get("FLEETDECK_DEBUG"):
            raise
        click.echo(
            f"fleetdeck: internal error: {exc!r}\n"
            "run again with FLEETDECK_DEBUG=1 for the traceback, and report it",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)
