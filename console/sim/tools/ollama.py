"""A fake `ollama` CLI for simulated nodes: `--version`, `pull`, `list` and `ps`, which (as
the real client) ask the server's HTTP API at OLLAMA_HOST (127.0.0.1:11434 by default), and
print what the real client prints. Put in place by the stand-in installer."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import urllib.error
import urllib.request

from console.sim.tools import sim_dir

NO_SERVER = "Error: could not connect to ollama app, is it running?"


def base() -> str:
    host = os.environ.get("OLLAMA_HOST") or "127.0.0.1:11434"
    host = host.removeprefix("http://")
    if ":" not in host:
        host += ":11434"
    if host.startswith("0.0.0.0:"):  # noqa: S104 - the client reaches a server bound to all
        host = "127.0.0.1:" + host.split(":")[1]
    return f"http://{host}"


def call(path: str, body: dict | None = None, timeout: float = 600) -> object:
    data = json.dumps(body).encode() if body is not None else None
    method = "POST" if data else "GET"
    req = urllib.request.Request(base() + path, data=data, method=method)  # noqa: S310 - http
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - the node's own
        text = r.read().decode()
    if path == "/api/pull":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def size(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    version = (sim_dir() / "ollama" / "version").read_text().strip()
    if not args or args[0] in ("-h", "--help", "help"):
        print("Usage:\n  ollama [command]\n\nAvailable Commands:\n  serve pull list ps run")
        return 0
    try:
        if args[0] in ("-v", "--version"):
            try:
                server = call("/api/version", timeout=5)
            except OSError:
                print("Warning: could not connect to a running Ollama instance")
                print(f"Warning: client version is {version}")
                return 0
            print(f"ollama version is {server.get('version')}")  # type: ignore[union-attr]
            return 0
        if args[0] == "pull" and len(args) > 1:
            for event in call("/api/pull", {"model": args[1], "stream": True}):  # type: ignore[union-attr]
                if "error" in event:
                    print(f"Error: {event['error']}", file=sys.stderr)
                    return 1
                if event.get("total"):
                    pct = 100 * event.get("completed", 0) // event["total"]
                    print(
                        f"{event['status']} {pct:3d}% {size(event.get('completed', 0))}/"
                        f"{size(event['total'])}",
                        file=sys.stderr,
                    )
                else:
                    print(event.get("status", ""), file=sys.stderr)
            return 0
        if args[0] in ("list", "ls"):
            print(f"{'NAME':<24}{'ID':<16}{'SIZE':<10}MODIFIED")
            for m in call("/api/tags").get("models", []):  # type: ignore[union-attr]
                print(f"{m['name']:<24}{m['digest'][:12]:<16}{size(m['size']):<10}2 minutes ago")
            return 0
        if args[0] == "ps":
            print(f"{'NAME':<24}{'ID':<16}{'SIZE':<10}{'PROCESSOR':<18}UNTIL")
            for m in call("/api/ps").get("models", []):  # type: ignore[union-attr]
                gpu = 100 * m["size_vram"] // m["size"] if m["size"] else 0
                where = "100% GPU" if gpu >= 100 else f"{100 - gpu}%/{gpu}% CPU/GPU"
                print(f"{m['name']:<24}{m['digest'][:12]:<16}{size(m['size']):<10}{where:<18}")
            return 0
    except urllib.error.HTTPError as exc:
        said = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError):
            said = json.loads(said).get("error", said)
        print(f"Error: {said}", file=sys.stderr)
        return 1
    except OSError:
        print(NO_SERVER, file=sys.stderr)
        return 1
    print(f'Error: unknown command "{args[0]}" for "ollama"', file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
