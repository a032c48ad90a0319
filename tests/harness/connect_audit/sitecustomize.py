"""Put on PYTHONPATH by a test: every Python process started with it appends each
connect() it makes to $FLEETDECK_CONNECT_LOG (pid, host, port). The simulated nodes' own
programs record theirs the same way (console/sim/tools/node_network.py)."""

import os
import socket
import sys

_LOG = os.environ.get("FLEETDECK_CONNECT_LOG")


def _record(event, args):
    if event == "socket.connect" and _LOG and args[0].family in (socket.AF_INET, socket.AF_INET6):
        with open(_LOG, "a") as f:
            f.write(f"{os.getpid()} seen {args[1][0]} {args[1][1]}\n")


sys.addaudithook(_record)
