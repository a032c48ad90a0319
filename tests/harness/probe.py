"""The node probe as the console sends it (console/core/probe.py with every vendor's part):
its functions, to call in a test as the node would."""

from __future__ import annotations

from types import SimpleNamespace

from console.core.accelerators import ACCELERATORS
from console.core.monitor.ssh_source import probe_script


def assembled() -> SimpleNamespace:
    """The script's names, and those of the vendors' parts it compiles only on a node that
    has their programs (probe.LaterPart), as on a node that has every vendor's."""
    names: dict = {"__name__": "probe_under_test"}
    exec(compile(probe_script(), "<probe>", "exec"), names)  # noqa: S102 - our own script
    for accelerator in ACCELERATORS.values():
        if accelerator.probe_needs:
            source = accelerator.probe_part.read_text()
            exec(compile(source, f"<{accelerator.name} part>", "exec"), names)  # noqa: S102
    return SimpleNamespace(**names)
