"""The probe's reading of containers from the docker socket: the listing each interval,
a container's inspect again only when its listing changes or a slow period has passed."""

from __future__ import annotations

from console.core import probe


class Api:
    def __init__(self):
        self.asked: list[str] = []

    def get(self, url):
        self.asked.append(url)
        return {"RestartCount": len(self.asked), "State": {"Status": "running"}}


def test_a_container_is_inspected_again_only_when_its_listing_changes(monkeypatch):
    probe.INSPECTED.clear()
    clock = [1000.0]
    monkeypatch.setattr(probe.time, "time", lambda: clock[0])
    api = Api()
    up = {"Id": "c1", "State": "running", "Status": "Up 2 hours (healthy)"}
    first = probe._inspect(api, up)
    clock[0] += 2
    assert probe._inspect(api, up) is first and len(api.asked) == 1  # same listing: cached
    restarted = dict(up, Status="Up Less than a second (health: starting)")
    assert probe._inspect(api, restarted) is not first and len(api.asked) == 2
    clock[0] += probe.INSPECT_EVERY[0]  # and once a slow period, whatever the listing
    probe._inspect(api, restarted)
    assert api.asked == ["/containers/c1/json"] * 3
    probe.INSPECTED.clear()
