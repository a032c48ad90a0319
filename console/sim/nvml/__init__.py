"""Builds the fake `libnvidia-ml.so.1` (fake_nvml.c) with gcc, when gcc is available."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("fake_nvml.c")


class BuildError(Exception):
    pass


def build(out_dir: Path) -> Path | None:
    """Compile into out_dir/libnvidia-ml.so.1; None when no C compiler is installed.

    The build is keyed by the source's hash, so repeated fleets reuse it.
    """
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / "libnvidia-ml.so.1"
    stamp = out_dir / ".fake_nvml.sha256"
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    if lib.exists() and stamp.exists() and stamp.read_text() == digest:
        return lib
    tmp = out_dir / f".libnvidia-ml.so.1.{digest[:8]}.tmp"
    proc = subprocess.run(
        [cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(tmp), str(SOURCE)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BuildError(f"building the fake NVML library failed:\n{proc.stderr}")
    tmp.replace(lib)
    stamp.write_text(digest)
    return lib
