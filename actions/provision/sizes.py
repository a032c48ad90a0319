"""The accelerators of the machine sizes fleetdeck's users rent (the clouds' own catalogues,
each vendor's in its adapter: console/core/accelerators/); a pool's `gpus` and `gpu_type`
win, and a size not listed here needs them to say its devices."""

from __future__ import annotations

from console.core.accelerators import ACCELERATORS

# size -> (device count, gpu_type)
GPUS: dict[str, tuple[int, str]] = {
    size: carried for a in ACCELERATORS.values() for size, carried in a.sizes.items()
}

# GCE accelerator types, for the gpu_type of a pool whose size carries none
GCE_ACCELERATORS: dict[str, str] = {
    gpu_type: name for a in ACCELERATORS.values() for gpu_type, name in a.gce_accelerators.items()
}


def gpus_of(size: str, gpus: int | None, gpu_type: str | None) -> tuple[int | None, str | None]:
    known = GPUS.get(size)
    return (
        gpus if gpus is not None else (known[0] if known else None),
        gpu_type or (known[1] if known else None),
    )
