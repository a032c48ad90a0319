# hl-smi's `-n link -i <bus>`, from the port states the simulator writes each tick
# (.sim/hl-link/<bus>): the probe asks it per card, and a C tool costs no interpreter start
if [ "$1" = "-n" ] && [ "$2" = "link" ] && [ "$3" = "-i" ]; then
    f="${FLEETDECK_SIM_DIR:-$HOME/.sim}/hl-link/$4"
    if [ -f "$f" ]; then cat "$f"; exit 0; fi
    echo "hl-smi: no AIP at $4"; exit 1
fi
