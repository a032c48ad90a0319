# Sourced by tests/run.sh and tests/lock.sh: puts uv (the installer the lock is made and
# installed with) in .uv/, at the version and hashes tests/uv.txt pins, and sets $UV.
PYTHON=${PYTHON:-python3}
if [ ! -x .uv/bin/uv ] || ! cmp -s tests/uv.txt .uv/pinned; then
    rm -rf .uv
    "$PYTHON" -m venv .uv
    .uv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
        -r tests/uv.txt
    cp tests/uv.txt .uv/pinned
fi
UV=$PWD/.uv/bin/uv
