#!/usr/bin/env bash
# The test command. On a fresh Debian machine with Python >= 3.11 it installs what the
# tests need (OpenSSH server, dockerd, static busybox, gcc, tmux, iproute2, Prometheus,
# Alertmanager; a virtualenv with fleetdeck and exactly the versions tests/requirements.lock
# pins), then runs ruff, the import contracts and pytest (four workers), and prints the 20
# slowest tests.
# Extra arguments go to pytest (`-n 0` runs in one process). `bash tests/run.sh --latest`
# runs the same on the newest releases pyproject.toml allows and relocks when they pass.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
[ -x /usr/sbin/dockerd ] || missing+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v gcc >/dev/null || missing+=(gcc)
command -v tmux >/dev/null || missing+=(tmux)
command -v ip >/dev/null || missing+=(iproute2)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing system packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "warning: not root, cannot install ${missing[*]}; tests that need them will skip" >&2
    fi
fi

# The Python environment: exactly tests/requirements.lock (made by tests/lock.sh), installed
# with the uv that tests/uv.txt pins. `--latest` instead resolves the newest releases that
# pyproject.toml allows into .venv-latest, runs the same checks on them and, when they pass,
# makes that resolution the new lock (see the README: Tests).
venv=.venv
lock=tests/requirements.lock
latest=
if [ "${1:-}" = --latest ]; then
    shift
    venv=.venv-latest
    latest=$(mktemp /tmp/fleetdeck-latest-XXXX.lock)
    trap 'rm -f "$latest"' EXIT
    lock=$latest
fi
source tests/uv.sh
if [ -n "$latest" ]; then
    bash tests/lock.sh --upgrade -o "$latest"
    echo "newest allowed releases: $(grep -c '^[a-z0-9].*==' "$latest") packages"
fi
[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
# Bytecode compiled ahead: a process that imports fleetdeck from source costs ~1 s more (1.5 s
# against 0.4), a run starts ~350 of them, and where the environment says
# PYTHONDONTWRITEBYTECODE (this machine's does) only the few the tests start with a clean
# environment write it, minutes into the run.
"$UV" pip sync -q --compile-bytecode --python "$venv/bin/python" --require-hashes "$lock"
"$UV" pip install -q --python "$venv/bin/python" --no-deps -e .
"$venv/bin/python" -m compileall -q -j 0 console actions screens profiles >/dev/null

"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/lint-imports"  # the layers of DESIGN (pyproject.toml [tool.importlinter])
# Four workers, one test file each at a time (a file's module fixtures stay on one worker),
# the longest files first (tests/conftest.py; xdist's own reordering, by the number of tests
# in a file, is turned off): most tests wait on servers, simulated fleets
# and retry back-offs, so four fit on two cores. Measured on this 2-core machine on a fresh
# clone, installs included: 629 tests, two workers 482 s, three 402 s; 678 tests, three
# 473-506 s in five runs, four 439-488 s in four; the simulator's tools made cheaper, 705
# tests: four 463 s; 712: five 466 s (a timing test failed under the load); 729: four 426 s;
# 744, the longest files first for real (--no-loadscope-reorder): four 445-468 s; 750: 396-439 s;
# 757 on a day this machine started processes 1.4-1.7x slower (2026-12-07): 494-516 s.
# 757-759 later that day (session 21): 527 s, then 397-401 s with the simulator's tools cheaper
# to start and bytecode compiled ahead (426-455 s with the tools alone).
# 763 (session 22), SSH transports at both ends waking once a second, not ten times: 361 s.
# Their temporary directories live under a short path: the simulator's unix sockets must
# fit in 107 bytes.
basetemp=$(mktemp -d /tmp/fdp-XXXX)
status=0
"$venv/bin/python" -m pytest -n 4 --dist loadfile --no-loadscope-reorder --durations 20 \
    --basetemp "$basetemp" "$@" ||
    status=$?
rm -rf "$basetemp"
if [ -n "$latest" ] && [ "$status" = 0 ]; then
    cp "$latest" tests/requirements.lock
    echo "the newest releases pass: tests/requirements.lock now pins them (git diff it, commit it)"
fi
exit "$status"
