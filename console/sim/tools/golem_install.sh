#!/bin/sh
# The simulator's stand-in for https://join.golem.network/as-provider: a test profile's
# `golem_install_url` points at this file (file://), and a deploy pipes it to `bash` as it
# would the real one. Its work is done by the node's .sim/golem-setup (golem_setup.py).
set -eu
if [ ! -x "$HOME/.sim/golem-setup" ]; then
    echo "ERROR: not a simulated node (no \$HOME/.sim/golem-setup)" >&2
    exit 1
fi
exec "$HOME/.sim/golem-setup"
