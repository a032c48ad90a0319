"""The one way the console and `fleetdeck status` build their live status: the SSH source
and the profile's other [[sources]] (the Monitor starts them), the Tracker they feed, and
optionally a recording of what they saw."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from console.core.monitor.monitor import Monitor
from console.core.monitor.recording import Recorder
from console.core.profile import Profile
from console.core.transport.ssh import Pool


def live_status(
    profile: Profile,
    accept_new: bool | Callable[[str, str, str, str], bool] = False,
    record: Path | None = None,
    feed: tuple[Path, str] | None = None,
    **pool_options,
) -> Monitor:
    """The SSH source over its own pool (closed by stop()), or with `feed` (socket, token)
    the running watch's status (attached_status), recording to `record` if given."""
    fleet = profile.model
    if feed is not None:
        monitor = attached_status(profile, *feed, accept_new=accept_new)
    else:
        pool = Pool.for_profile(fleet, accept_new=accept_new, **pool_options)
        monitor = Monitor(fleet, pool)
        monitor.closers.append(pool.close)
    if record is not None:
        recorder = Recorder(record, profile, monitor.interval)
        monitor.tracker.hooks.append(recorder)
        monitor.closers.append(recorder.close)
    return monitor


def attached_status(
    profile: Profile,
    sock: Path,
    token: str,
    accept_new: bool | Callable[[str, str, str, str], bool] = False,
):
    """Status from the running watch at `sock` (monitor/feed.py), with a pool of its own
    for actions that connects only when one runs."""
    from console.core.monitor.feed import Attached

    pool = Pool.for_profile(profile.model, accept_new=accept_new)
    return Attached(profile.model, sock, token, pool)
