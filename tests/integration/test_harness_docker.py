"""The Docker SDK against the private test dockerd."""

from __future__ import annotations

import pytest

from tests.harness.dockerd import TEST_IMAGE

pytestmark = pytest.mark.integration


def test_sdk_lists_a_container_it_started(dockerd):
    client = dockerd.client()
    try:
        ct = client.containers.run(
            TEST_IMAGE,
            ["sleep", "300"],
            name="fd-sleeper",
            network_mode="none",
            detach=True,
            labels={"fleetdeck.test": "1"},
        )
        try:
            listed = client.containers.list(filters={"label": "fleetdeck.test=1"})
            assert [c.name for c in listed] == ["fd-sleeper"]
            assert listed[0].status == "running"
            assert listed[0].image.tags == [TEST_IMAGE]
        finally:
            ct.remove(force=True)
    finally:
        client.close()


def test_exited_container_reports_its_exit_code(dockerd):
    client = dockerd.client()
    try:
        ct = client.containers.run(
            TEST_IMAGE,
            ["sh", "-c", "echo bye; exit 7"],
            name="fd-crasher",
            network_mode="none",
            detach=True,
        )
        try:
            assert ct.wait(timeout=30)["StatusCode"] == 7
            ct.reload()
            assert ct.attrs["State"]["Status"] == "exited"
            assert ct.attrs["State"]["ExitCode"] == 7
            assert ct.logs() == b"bye\n"
            names = [c.name for c in client.containers.list(all=True)]
            assert "fd-crasher" in names
        finally:
            ct.remove(force=True)
    finally:
        client.close()
