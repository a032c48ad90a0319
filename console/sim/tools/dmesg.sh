#!/bin/sh
# A fake `dmesg --time-format iso`: the node's kernel messages ($HOME/.sim/kmsg, written by
# the simulator with the NVRM Xid lines of injected GPU faults), already in that format.
cat "${FLEETDECK_SIM_DIR:-$HOME/.sim}/kmsg" 2>/dev/null
exit 0
