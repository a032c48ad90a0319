"""The rehearsal: the whole setup against a fresh simulated fleet of the same profile, so
a newcomer sees every stage pass (or fail, and why) before touching a real machine.

The fleet runs under DIR/sim (`fleetdeck sim up --fresh`, fast blocks so that a proof of
compute passes within the rehearsal); its profile points at the simulator, its secrets are
in DIR/sim/secrets.env. It stays up afterwards, to be looked at in the console, until
`fleetdeck sim down DIR/sim`. A rehearsal run again finds it up and resumes on it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from console.app.setup.stages import fleetdeck

BLOCK_TIME_S = "0.2"
EPOCH_BLOCKS = "60"  # a proof of compute every 12 s


def secrets_env(path: Path) -> dict[str, str]:
    """The `export NAME=value` lines the simulator wrote, as a dict."""
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            words = shlex.split(line)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                key, _, value = words[1].partition("=")
                out[key] = value
    return out


def fleet_up(profile_text: str, root: Path, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """(the simulated fleet's profile, the environment its commands need), starting the
    fleet unless it runs already. Raises RuntimeError with the simulator's words."""
    sim = root / "sim"
    if fleetdeck(env, "sim", "status", str(sim), capture=True).returncode != 0:
        root.mkdir(parents=True, exist_ok=True)
        (root / "fleet.toml").write_text(profile_text)
        up = fleetdeck(
            env,
            "sim",
            "up",
            str(root / "fleet.toml"),
            "--dir",
            str(sim),
            "--fresh",
            "--block-time",
            BLOCK_TIME_S,
            "--epoch-blocks",
            EPOCH_BLOCKS,
            capture=True,
        )
        if up.returncode != 0:
            raise RuntimeError(up.stderr.strip() or up.stdout.strip())
    return sim / "profile.toml", env | secrets_env(sim / "secrets.env")
