"""The `fleetdeck` command group and its exit codes; each command group is a module here."""

from __future__ import annotations

import math

import click

from console import __version__

EXIT_INVALID = 1
EXIT_CRITICAL = 2
EXIT_FAILED = 4
EXIT_USAGE = 64  # sysexits' EX_USAGE: apart from 2, which status keeps for a critical alert
EXIT_INTERNAL = 70
EXIT_CANCELLED = 130


class Finite(click.FloatRange):
    """A number in a range, finite: click's FloatRange lets `nan` through (it compares
    false with both bounds), and a nan interval or speed hangs or crashes what uses it."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class _FleetdeckGroup(click.Group):
    """A group whose first argument may be a profile path instead of a command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["open", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_FleetdeckGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="fleetdeck")
def cli() -> None:
    """fleetdeck: one terminal console for GPU inference fleets.

    \b
    New here? `fleetdeck setup --rehearse` asks a few questions, writes your
    first profile and rehearses the whole setup on a simulated fleet.

    \b
    fleetdeck setup [PROFILE]         questions → a profile → keys, deploy, register
    fleetdeck PROFILE                 open the console on a fleet profile
    fleetdeck status PROFILE          every node's GPUs, containers, chain, alerts
    fleetdeck plan PROFILE deploy     what a deploy would change (dry run)
    fleetdeck run PROFILE deploy      plan, confirm, apply; --resume after a failure
    fleetdeck run PROFILE provision   rent the profile's [provision] pools (provision --help)
    fleetdeck run PROFILE preflight   the machines' readiness, with fixes
    fleetdeck loadtest PROFILE        providers under load, against their SLO
    fleetdeck pools PROFILE           Kubernetes sources' node pools, GPUs, NotReady
    fleetdeck journal PROFILE [RUN]   what was run, step by step
    fleetdeck watch PROFILE           headless: page on alerts, keep history, serve consoles
    fleetdeck uptime PROFILE          UP, DOWN, UNKNOWN against the SLO (the watch's history)
    fleetdeck replay FILE             the console on a recording (status --record FILE)
    fleetdeck demo                    the console on a simulated fleet
    fleetdeck sim up|fault|down …     a simulated fleet to rehearse on (sim --help)
    fleetdeck check PROFILE...        validate profiles
    fleetdeck import-inventory INI    turn an Ansible inventory into a profile
    """


# reading status from a running `fleetdeck watch` (console/app/cli/common.py: watch_feed)
ATTACH = click.option(
    "--attach",
    metavar="SOCKET",
    help="read status from the watch at SOCKET (a forwarded one; its token in SOCKET.token)",
)
ALONE = click.option(
    "--alone", is_flag=True, help="read the fleet itself even where a watch of it runs"
)
