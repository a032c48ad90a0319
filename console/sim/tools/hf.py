"""A fake `hf download` / `huggingface-cli download`: lays out the Hugging Face cache.

The model lands in $HF_HOME/hub/models--ORG--NAME/snapshots/<rev>/ with its config.json,
as the real client leaves it. `$HOME/.sim/hf.json` can make it slow ({"delay": seconds})
or fail once ({"fail_once": true}), to exercise resumable downloads.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

from console.sim.tools import option, sim_dir


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "download":
        print("usage: hf download REPO_ID [--local-dir DIR] [--cache-dir DIR]", file=sys.stderr)
        return 2
    repo = next(
        (
            a
            for a in args[1:]
            if not a.startswith("-")
            and a
            not in (
                option(args, "--local-dir"),
                option(args, "--cache-dir"),
                option(args, "--revision"),
            )
        ),
        None,
    )
    if repo is None:
        print("error: the following arguments are required: repo_id", file=sys.stderr)
        return 2
    knobs_path = sim_dir() / "hf.json"
    knobs = json.loads(knobs_path.read_text()) if knobs_path.exists() else {}
    marker = sim_dir() / f"hf-failed-{hashlib.sha256(repo.encode()).hexdigest()[:12]}"
    rev = hashlib.sha1(repo.encode()).hexdigest()  # noqa: S324 - a fake revision id
    local = option(args, "--local-dir")
    if local:
        target = Path(local)
    else:
        home = (
            option(args, "--cache-dir")
            or os.environ.get("HF_HOME")
            or str(Path(os.environ.get("HOME", ".")) / ".cache" / "huggingface")
        )
        target = Path(home) / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / rev
    files = [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    delay = float(knobs.get("delay", 0))
    target.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(files, start=1):
        if delay:
            time.sleep(delay / len(files))
        if knobs.get("fail_once") and i == 3 and not marker.exists():
            marker.write_text("failed once\n")
            print(f"Fetching {len(files)} files:  40%|████      | 2/{len(files)}", file=sys.stderr)
            print(
                "requests.exceptions.ConnectionError: (ProtocolError('Connection aborted.', "
                "RemoteDisconnected('Remote end closed connection without response')))",
                file=sys.stderr,
            )
            return 1
        path = target / name
        if name == "config.json":
            path.write_text(
                json.dumps(
                    {
                        "_name_or_path": repo,
                        "architectures": ["Qwen3ForCausalLM"],
                        "model_type": "qwen3",
                    }
                )
            )
        elif not path.exists():
            path.write_bytes(b"\0" * 1024)
        pct = int(100 * i / len(files))
        bar = "█" * (pct // 10)
        print(
            f"Fetching {len(files)} files: {pct:>3}%|{bar:<10}| {i}/{len(files)}",
            file=sys.stderr,
            flush=True,
        )
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
