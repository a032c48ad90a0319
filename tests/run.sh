#!/usr/bin/env bash
# The test command. On a fresh Debian machine with Python >= 3.11 it installs what the
# tests need (OpenSSH server, dockerd, static busybox, gcc, tmux, iproute2, Prometheus; a
# virtualenv with fleetdeck and its test extra), then runs ruff, the import contracts and pytest (two
# workers). Extra arguments go to pytest (`-n 0` runs in one process).
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

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports  # the layers of DESIGN (pyproject.toml [tool.importlinter])
# Two workers, one test file each at a time (a file's module fixtures stay on one worker):
# most tests wait on servers, so two fit on two cores. Their temporary directories live
# under a short path: the simulator's unix sockets must fit in 107 bytes.
basetemp=$(mktemp -d /tmp/fdp-XXXX)
status=0
.venv/bin/python -m pytest -n 2 --dist loadfile --basetemp "$basetemp" "$@" || status=$?
rm -rf "$basetemp"
exit "$status"
