# nvidia-smi's `-L`, which a deploy counts GPUs with (on the host and in its containers),
# read by awk from the readings file the simulator writes each tick: the real nvidia-smi is
# a C program, and an interpreter start per count was most of a deploy's checks' cost
if [ "$#" = 1 ] && { [ "$1" = -L ] || [ "$1" = --list-gpus ]; }; then
    f="${FLEETDECK_SIM_DIR:-$HOME/.sim}/gpus.txt"
    if [ -f "$f" ]; then
        exec awk '$1 == "gpu" { index_ = $2; lost = 0 } $1 == "name" { name = substr($0, 6) }
            $1 == "uuid" { uuid = $2 } $1 == "lost" { lost = $2 }
            $1 == "end" && !lost { print "GPU " index_ ": " name " (UUID: " uuid ")" }' "$f"
    fi
fi
