"""The GPUs of the machine sizes fleetdeck's users rent (the clouds' own catalogues); a
pool's `gpus` and `gpu_type` win, and a size not listed here needs them to say its GPUs."""

from __future__ import annotations

# size -> (GPU count, GPU type)
GPUS: dict[str, tuple[int, str]] = {
    # EC2
    "p5.48xlarge": (8, "H100"),
    "p5e.48xlarge": (8, "H200"),
    "p5en.48xlarge": (8, "H200"),
    "p4d.24xlarge": (8, "A100"),
    "p4de.24xlarge": (8, "A100"),
    "g6e.xlarge": (1, "L40S"),
    "g6e.12xlarge": (4, "L40S"),
    "g6e.48xlarge": (8, "L40S"),
    "g6.xlarge": (1, "L4"),
    "g6.12xlarge": (4, "L4"),
    "g5.xlarge": (1, "A10G"),
    "g5.12xlarge": (4, "A10G"),
    "g5.48xlarge": (8, "A10G"),
    # GCE: A3 and A2 machine types carry their GPUs
    "a3-highgpu-8g": (8, "H100"),
    "a3-megagpu-8g": (8, "H100"),
    "a2-highgpu-1g": (1, "A100"),
    "a2-highgpu-8g": (8, "A100"),
    "a2-ultragpu-8g": (8, "A100"),
    "g2-standard-4": (1, "L4"),
    # Azure
    "Standard_ND96isr_H100_v5": (8, "H100"),
    "Standard_ND96isr_H200_v5": (8, "H200"),
    "Standard_ND96asr_v4": (8, "A100"),
    "Standard_NC24ads_A100_v4": (1, "A100"),
}

# GCE accelerator types, for the gpu_type of a pool whose size carries none
GCE_ACCELERATORS = {
    "H100": "nvidia-h100-80gb",
    "A100": "nvidia-tesla-a100",
    "L4": "nvidia-l4",
    "T4": "nvidia-tesla-t4",
    "V100": "nvidia-tesla-v100",
}


def gpus_of(size: str, gpus: int | None, gpu_type: str | None) -> tuple[int | None, str | None]:
    known = GPUS.get(size)
    return (
        gpus if gpus is not None else (known[0] if known else None),
        gpu_type or (known[1] if known else None),
    )
