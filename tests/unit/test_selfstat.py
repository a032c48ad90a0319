"""The console's own CPU and memory, as its header says them."""

from __future__ import annotations

import re
import time

from console.core.selfstat import SelfUsage, rss_mib


def test_usage_measures_this_process():
    usage = SelfUsage()
    end = time.process_time() + 0.2
    while time.process_time() < end:  # a fifth of a second of work
        pass
    share, rss = usage.sample()
    assert share > 20  # most of a core while it worked
    assert rss is not None and rss == rss_mib() or abs(rss - rss_mib()) < 5
    assert re.fullmatch(r"console \d+% CPU \d+ MiB", usage.text())
