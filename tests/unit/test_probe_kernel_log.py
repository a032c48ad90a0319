"""The probe's reading of Xid events from the kernel log (journal JSON, dmesg ISO)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime

from console.core.monitor.parse import merge_events
from tests.harness.probe import assembled

probe = assembled()

LINE = (
    "NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus."
)


def test_the_drivers_line_gives_bus_and_xid():
    assert probe.nv_xid_line(LINE) == ("0000:3b:00", 79)
    assert probe.nv_xid_line("NVRM: Xid (PCI:0000:18:00): 48, pid=1234, name=python3, ...") == (
        "0000:18:00",
        48,
    )
    assert probe.nv_xid_line("NVRM: loading NVIDIA UNIX x86_64 Kernel Module") is None
    assert probe.nv_xid_line("NVRM: Xid (PCI:0000:3b:00): garbage") is None


def _tool(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_journal_first_then_dmesg_and_only_the_last_ten_minutes(tmp_path, monkeypatch):
    now = 1_800_000_000.0
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    entries = [
        {"__REALTIME_TIMESTAMP": str(int((now - 60) * 1e6)), "MESSAGE": LINE},
        {"__REALTIME_TIMESTAMP": str(int((now - 3600) * 1e6)), "MESSAGE": LINE},  # too old
        {"__REALTIME_TIMESTAMP": str(int((now - 30) * 1e6)), "MESSAGE": "eth0: link up"},
    ]
    (tmp_path / "journal").write_text("\n".join(json.dumps(e) for e in entries) + "\nnot json\n")
    _tool(tmp_path, "journalctl", f'cat "{tmp_path}/journal"\n')
    _tool(tmp_path, "dmesg", "exit 1\n")
    assert probe.nv_kernel_xids(now) == [(now - 60, "0000:3b:00", 79)]

    # no journal (containers, minimal hosts): dmesg's ISO times, comma before the fraction
    _tool(tmp_path, "journalctl", 'echo "No journal files were found." >&2; exit 1\n')
    stamp = datetime.fromtimestamp(now - 120, UTC).isoformat().replace(".", ",")
    if "," not in stamp:
        stamp = stamp.replace("+", ",000000+")
    (tmp_path / "kmsg").write_text(f"{stamp} {LINE}\n2020-01-01T00:00:00,000000+00:00 {LINE}\n")
    _tool(tmp_path, "dmesg", f'cat "{tmp_path}/kmsg"\n')
    assert probe.nv_kernel_xids(now) == [(now - 120, "0000:3b:00", 79)]


def test_a_lost_gpu_is_named_by_elimination(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    _tool(tmp_path, "journalctl", "exit 1\n")
    (tmp_path / "kmsg").write_text(
        "2027-01-15T08:00:00,000000+00:00 " + LINE + "\n"
        "2027-01-15T08:00:00,000000+00:00 NVRM: Xid (PCI:0000:18:00): 48, pid=1, name=x, DBE\n"
    )
    _tool(tmp_path, "dmesg", f'cat "{tmp_path}/kmsg"\n')
    # GPU 1 answers with its bus; the lost GPU 0 cannot be asked for its own
    _tool(
        tmp_path,
        "nvidia-smi",
        'echo "Unable to determine the device handle for GPU0000:3B:00.0: GPU is lost."\n'
        'echo "1, 00000000:18:00.0"\n',
    )
    when = datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()
    gpus = [{"index": 0, "lost": True}, {"index": 1, "lost": False}]
    found = probe.nv_xid_history(when + 5, gpus)
    assert [(x["gpu"], x["code"], x["pci"]) for x in found] == [
        (0, 79, "0000:3b:00"),
        (1, 48, "0000:18:00"),
    ]


def test_a_re_read_event_is_kept_once():
    kept = ((100.0, 0, 79, "nvidia"),)
    again = ((99.2, 0, 79, "nvidia"), (99.2, 1, 79, "nvidia"), (400.0, 0, 79, "nvidia"))
    assert merge_events(kept, again, since=50) == (
        (100.0, 0, 79, "nvidia"),
        (99.2, 1, 79, "nvidia"),
        (400.0, 0, 79, "nvidia"),
    )
    assert merge_events(kept, (), since=150) == ()
    # the same code from another vendor's device is another event
    assert len(merge_events(kept, ((100.5, 0, 79, "amd"),), since=50)) == 2
