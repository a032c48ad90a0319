#!/bin/sh
# A fake sudo for simulated nodes: runs the command in the node's sandbox as the node's
# root. The real sudo's secure_path would reach this machine's own apt-get and ufw, not the
# node's fake ones: a deploy rehearsed on a simulated fleet must never touch this machine.
while [ $# -gt 0 ]; do
    case $1 in
        -u) shift 2 ;;
        --) shift; break ;;
        -*) shift ;;
        *) break ;;
    esac
done
FLEETDECK_SIM_ROOT=1 exec "$@"
