#!/bin/sh
# The simulator's stand-in for https://ollama.com/install.sh: a test profile's
# `ollama_install_url` points at this file (file://), and a deploy pipes it to `sh` as it
# would the real one. Its work is done by the node's .sim/ollama-setup (ollama_setup.py).
set -eu
if [ ! -x "$HOME/.sim/ollama-setup" ]; then
    echo "ERROR: not a simulated node (no \$HOME/.sim/ollama-setup)" >&2
    exit 1
fi
exec "$HOME/.sim/ollama-setup"
