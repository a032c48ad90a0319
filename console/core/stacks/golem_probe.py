"""The Golem stack's part of the node probe (Stack.probe_part): the console puts this file
into the probe script it sends (console/core/probe.py, before its main()), where it adds a
`golem` reading every slow period on a node that runs a Golem provider: `golemsp status`'s
boxes, ya-provider's and yagna's JSON, and yagna's REST API (health, offers), asked on the
node with its app-key, which never leaves it. console/core/stacks/golem_status.py reads it.

It runs inside the probe script: stdlib only, old syntax, like the probe."""

import json
import os


def readers():
    """(line key, seconds between reads, reader) of this part."""
    return [("golem", 30.0, golem)]


def run_as(cmd, env, timeout=10):
    import subprocess  # noqa: PLC0415 - see the imports above

    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True, env=env)
        return p.returncode, p.stdout, p.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", str(exc)


def golem_bin():
    """Where a Golem provider's tools are: this user's PATH, else the provider user's
    ~/.local/bin (its installer's), whichever user runs it."""
    import glob  # noqa: PLC0415 - see the imports above

    found = which("golemsp")  # noqa: F821 - the probe's
    if found:
        return os.path.dirname(found)
    mine = os.path.expanduser("~") + "/.local/bin/golemsp"
    others = sorted(glob.glob("/home/*/.local/bin/golemsp"))
    for path in [mine] + others + ["/var/lib/golem/.local/bin/golemsp"]:
        if os.access(path, os.X_OK):
            return os.path.dirname(path)
    return None


def golem_rest(path, key):
    """yagna's REST API on this host, with its app-key (which never leaves the node)."""
    import urllib.error  # noqa: PLC0415 - see the imports above
    import urllib.request  # noqa: PLC0415

    url = os.environ.get("YAGNA_API_URL", "http://127.0.0.1:7465") + path
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + key})  # noqa: S310 - yagna's own URL
    try:
        r = urllib.request.urlopen(req, timeout=5)  # noqa: S310
        code, body = r.status, r.read()
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read()
    except Exception as exc:
        return {"error": str(exc)}
    try:
        return {"status": code, "body": json.loads(body)}
    except ValueError:
        return {"status": code, "body": body.decode(errors="replace")[:300]}


def golem():
    """A Golem provider's status where the node runs one (the console reads it:
    console/core/stacks/golem_status.py): `golemsp status`'s boxes, ya-provider's and
    yagna's JSON, and yagna's REST API (health, offers); None where it is not installed."""
    where = golem_bin()
    if where is None:
        return None
    env = dict(os.environ, PATH=where + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
    env["HOME"] = os.path.dirname(os.path.dirname(where))  # the provider user's home
    rc, out, err = run_as([where + "/golemsp", "status"], env, timeout=20)
    error = None if rc == 0 else ((err or out).strip()[-300:] or "exit " + str(rc))
    found = {}
    asks = (
        ("presets", ["ya-provider", "--json", "preset", "active"]),
        ("config", ["ya-provider", "--json", "config", "get"]),
        ("id", ["yagna", "--json", "id", "show"]),
        ("driver", ["yagna", "--json", "payment", "driver", "status"]),
        ("keys", ["yagna", "--json", "app-key", "list"]),
    )
    for name, cmd in asks:
        rc2, text, _ = run_as([where + "/" + cmd[0]] + cmd[1:], env)
        try:
            found[name] = json.loads(text) if rc2 == 0 else None
        except ValueError:
            found[name] = None
    keys = found.pop("keys", None) or []
    key = next((k.get("key") for k in keys if isinstance(k, dict) and k.get("key")), None)
    if key:
        found["health"] = golem_rest("/healthcheck", key)
        offers = golem_rest("/market-api/v1/offers", key)
        body = offers.get("body")
        found["offers"] = len(body) if isinstance(body, list) else None
    return {"text": out[-8000:], "error": error, "json": found}
