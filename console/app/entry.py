"""The `fleetdeck` command's entry point: a Ctrl-C while the CLI is still being imported
(its first ~0.15 s) ends quietly with 130, not with a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from console.app.cli import main as cli_main
    except KeyboardInterrupt:
        sys.exit(130)
    cli_main()
