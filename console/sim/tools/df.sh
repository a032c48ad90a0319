#!/bin/sh
# A fake `df -P -k` that reports the node's simulated data disk ($HOME/.sim/disk.json).
# Shell built-ins only: the real df is a small C program that costs a node next to nothing,
# and an interpreter start per call would make every probe line dearer than on a real node.
IFS= read -r disk < "${FLEETDECK_SIM_DIR:-$HOME/.sim}/disk.json" || [ -n "$disk" ] || exit 1
total=${disk#*'"total_kb":'}; total=$((${total%%[,\}]*}))
used=${disk#*'"used_kb":'}; used=$((${used%%[,\}]*}))
echo "Filesystem     1024-blocks       Used  Available Capacity Mounted on"
rows=0
for arg in "$@"; do
    case $arg in -*) ;; *) rows=$((rows + 1)) ;; esac
done
[ "$rows" -gt 0 ] || rows=1
while [ "$rows" -gt 0 ]; do
    printf '/dev/nvme0n1p1 %11d %10d %10d %7d%% /\n' "$total" "$used" \
        "$((total - used))" "$(((used * 100 + total - 1) / total))"
    rows=$((rows - 1))
done
