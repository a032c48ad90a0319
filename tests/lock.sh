#!/usr/bin/env bash
# Writes tests/requirements.lock, the exact versions (with hashes) the test command installs,
# from pyproject.toml's ranges and its test extra. Pins already in the lock are kept where the
# ranges still allow them; `bash tests/lock.sh --upgrade` takes the newest allowed releases
# (tests/run.sh --latest does that, tests them, and keeps the lock only when they pass).
# Extra arguments go to `uv pip compile` (`-o FILE` writes elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/uv.sh
out=tests/requirements.lock
for arg in "$@"; do [ "$arg" = -o ] && out=; done
"$UV" pip compile pyproject.toml --extra test --universal --python-version 3.11 \
    --generate-hashes --no-header --quiet ${out:+-o "$out"} "$@"
