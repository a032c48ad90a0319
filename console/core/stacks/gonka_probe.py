"""The Gonka stack's part of the node probe (Stack.probe_part): each line, what Cosmovisor
keeps on a network node's disk, so that a chain halted at an upgrade's height for want of
its binary is named within an interval (the chain's RPC is gone by then, and its
container only restarts):

- `.inference/data/upgrade-info.json`: the upgrade the chain stopped for (the node writes
  it at the height, reference/gonka-0.2.15.md §3.3);
- `.inference/cosmovisor/upgrades/<name>/bin/inferenced`: the upgrades prepared.

The deploy directory is found where Gonka's docs and fleetdeck put it (/opt/gonka or
~/…/deploy/join). It runs inside the probe script: stdlib only, old syntax, every name
under `gonka`."""

import glob
import json
import os

GONKA_PLACES = ["/opt/gonka/deploy/join", "~/gonka/deploy/join", "~/*/deploy/join"]
GONKA_FOUND = {"dir": None, "at": -1e9}


def readers():
    """(line key, seconds between reads: 0, every line, as it is a few stat calls)."""
    return [("gonka", 0.0, gonka_cosmovisor)]


def gonka_dir(now):
    """The deploy directory with a chain node's .inference, looked for every 30 s until
    found (a deploy makes it)."""
    if GONKA_FOUND["dir"] is None and now - GONKA_FOUND["at"] >= 30:
        GONKA_FOUND["at"] = now
        for place in GONKA_PLACES:
            for d in sorted(glob.glob(os.path.expanduser(place))):
                if os.path.isdir(d + "/.inference/cosmovisor"):
                    GONKA_FOUND["dir"] = d
                    return d
    return GONKA_FOUND["dir"]


def gonka_cosmovisor():
    import time  # noqa: PLC0415 - see the probe's imports

    d = gonka_dir(time.time())
    if d is None:
        return None
    upgrades = d + "/.inference/cosmovisor/upgrades"
    try:
        names = sorted(os.listdir(upgrades))
    except OSError:
        names = []
    prepared = [n for n in names if os.path.isfile(upgrades + "/" + n + "/bin/inferenced")]
    halted = None
    try:
        with open(d + "/.inference/data/upgrade-info.json") as f:
            info = json.load(f)
        halted = {"name": str(info.get("name", "")), "height": info.get("height")}
    except (OSError, ValueError, AttributeError):
        pass
    return {"dir": d, "upgrade": halted, "prepared": prepared}
