"""A fake `nvidia-ctk` (the NVIDIA container toolkit's CLI, put in place by the fake apt-get):
`runtime configure --runtime=docker` registers the nvidia runtime with the node's docker,
as the real one writes it into /etc/docker/daemon.json."""

from __future__ import annotations

import os
import sys

from console.sim.tools import sim_dir

NO_NVIDIA_RUNTIME = "no-nvidia-runtime"  # console/sim/docker_api.py reads it


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:2] != ["runtime", "configure"] or "--runtime=docker" not in args:
        print(f"nvidia-ctk: unsupported by the simulator: {' '.join(args)}", file=sys.stderr)
        return 1
    if os.geteuid() != 0 and not os.environ.get("FLEETDECK_SIM_ROOT"):
        print("ERRO[0000] unable to flush config: open /etc/docker/daemon.json: permission denied")
        return 1
    (sim_dir() / NO_NVIDIA_RUNTIME).unlink(missing_ok=True)
    print("INFO[0000] Loading config from /etc/docker/daemon.json")
    print("INFO[0000] Wrote updated config to /etc/docker/daemon.json")
    print("INFO[0000] It is recommended that docker daemon be restarted.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
