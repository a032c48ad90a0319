"""The fake stack's status side: a `worker` role running one container, a setting of its
own, and collectors that poll nothing."""

from __future__ import annotations

from console.core.monitor.collect import Collector
from console.core.schema import Port, Strict
from console.core.stacks import Stack


class FakeSettings(Strict):
    fake_port: Port = 7000


FAKE = Stack(
    name="fake",
    roles=("worker",),
    settings=FakeSettings,
    containers=(("worker", ("fake-app",)),),
    private_ports=(7000,),
    description="a fake stack of workers",
)
COLLECTOR = Collector()
