"""A fake `df` that reports the node's simulated data disk (`df -P -k` columns)."""

from __future__ import annotations

import json
import sys

from console.sim.tools import sim_dir


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    paths = [a for a in args if not a.startswith("-")] or ["/"]
    disk = json.loads((sim_dir() / "disk.json").read_text())
    total, used = disk["total_kb"], disk["used_kb"]
    avail = total - used
    pct = -(-used * 100 // total)
    print("Filesystem     1024-blocks       Used  Available Capacity Mounted on")
    for _ in paths:
        print(f"/dev/nvme0n1p1 {total:>11} {used:>10} {avail:>10} {pct:>7}% /")
    return 0


if __name__ == "__main__":
    sys.exit(main())
