"""The second half of the simulator's stand-in for Golem's provider installer
(golem_install.sh runs it): the terms, the three pinned bundles, the binaries in
~/.local/bin and the runtimes in ~/.local/lib/yagna/plugins, `ya-provider pre-install`, and
the PATH check that makes the real script exit 1 after a successful install
(reference/golem-provider.md §1)."""

from __future__ import annotations

import os
import sys

from console.sim.golem import CORE, VM, WASI, GolemHost
from console.sim.tools import sim_dir

TERMS = (
    "By installing & running this software you declare that you have read, understood and "
    "hereby accept the disclaimer and\nprivacy warning found at "
    "https://handbook.golem.network/see-also/terms\n"
)


def main(argv: list[str] | None = None) -> int:  # the installer takes no arguments
    home = sim_dir().parent
    host = GolemHost(home)
    data = home / ".local" / "share" / "ya-installer"
    tag = data / "terms" / "testnet-01.tag"
    print(TERMS, file=sys.stderr)
    if not tag.exists():
        if os.environ.get("GOLEM_ACCEPT_TOS", "no") != "yes":
            # the real script asks on fd 2 until it reads yes or no
            print("Do you accept the terms and conditions? [yes/no]: ", file=sys.stderr)
            return 1
        tag.parent.mkdir(parents=True, exist_ok=True)
        tag.write_text("")
    core = os.environ.get("YA_INSTALLER_CORE", f"v{CORE}").removeprefix("v")
    vm = os.environ.get("YA_INSTALLER_VM", f"v{VM}").removeprefix("v")
    wasi = os.environ.get("YA_INSTALLER_WASI", f"v{WASI}").removeprefix("v")
    bindir = home / ".local" / "bin"
    print(f"golem-installer: installing to {bindir}")
    print(f"{' Component':<20} {'Version':>25}", file=sys.stderr)
    print(f"{'-----------':<20} {'--------------------':>25}", file=sys.stderr)
    host.install(core, vm, wasi)
    for name, version in (("golem core", core), ("wasi runtime", wasi), ("vm runtime", vm)):
        print(f"{name:<20} {version:>25} [done]", file=sys.stderr)
    print(f"{'Downloading certificates and whitelists':<46}{'[done]':>20}", file=sys.stderr)
    if os.environ.get("BATCH_MODE", "no") != "yes":
        print("golemsp setup needs a terminal: run with BATCH_MODE=yes", file=sys.stderr)
        return 1
    if str(bindir) not in os.environ.get("PATH", "").split(":"):
        print("[ATTENTION REQUIRED]", file=sys.stderr)
        print(
            f"To ensure your system can find the Golem binaries, please include '{bindir}' "
            "within your path, by following the instructions below.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
