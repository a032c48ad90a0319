"""The node probe as the console sends it (console/core/probe.py with every vendor's part):
its functions, to call in a test as the node would."""

from __future__ import annotations

from types import SimpleNamespace

from console.core.monitor.ssh_source import probe_script


def assembled() -> SimpleNamespace:
    names: dict = {"__name__": "probe_under_test"}
    exec(compile(probe_script(), "<probe>", "exec"), names)  # noqa: S102 - our own script
    return SimpleNamespace(**names)
