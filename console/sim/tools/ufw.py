"""A fake `ufw`: records rules in the node's sandbox and prints them as ufw does."""

from __future__ import annotations

import json
import sys

from console.sim.tools import sim_dir


def _path():
    return sim_dir() / "ufw.json"


def _load() -> dict:
    p = _path()
    if p.exists():
        return json.loads(p.read_text())
    return {"enabled": False, "default_incoming": "deny", "default_outgoing": "allow", "rules": []}


def _save(state: dict) -> None:
    _path().write_text(json.dumps(state, indent=1))


def _rule(args: list[str]) -> dict | None:
    """`allow 22/tcp`, `allow from 10.0.0.1 to any port 8080 proto tcp`, `deny 9200`."""
    if not args:
        return None
    action, rest = args[0], args[1:]
    if action not in ("allow", "deny", "reject", "limit"):
        return None
    rule = {"action": action.upper(), "port": None, "proto": None, "from": "Anywhere"}
    if len(rest) == 1:
        port, _, proto = rest[0].partition("/")
        rule["port"], rule["proto"] = port, proto or None
        return rule
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "from" and i + 1 < len(rest):
            rule["from"] = "Anywhere" if rest[i + 1] == "any" else rest[i + 1]
            i += 2
        elif word == "to" and i + 1 < len(rest):
            i += 2
        elif word == "port" and i + 1 < len(rest):
            rule["port"] = rest[i + 1]
            i += 2
        elif word == "proto" and i + 1 < len(rest):
            rule["proto"] = rest[i + 1]
            i += 2
        else:
            return None
    return rule if rule["port"] else None


def _to(rule: dict) -> str:
    return rule["port"] + (f"/{rule['proto']}" if rule["proto"] else "")


def status(state: dict, verbose: bool, numbered: bool) -> str:
    if not state["enabled"]:
        return "Status: inactive\n"
    out = ["Status: active"]
    if verbose:
        out += [
            "Logging: on (low)",
            f"Default: {state['default_incoming']} (incoming), "
            f"{state['default_outgoing']} (outgoing), disabled (routed)",
            "New profiles: skip",
        ]
    out += [
        "",
        f"{'     ' if numbered else ''}To                         Action      From",
        f"{'     ' if numbered else ''}--                         ------      ----",
    ]
    for i, r in enumerate(state["rules"], start=1):
        action = r["action"] + (" IN" if verbose else "")
        prefix = f"[{i:>2}] " if numbered else ""
        out.append(f"{prefix}{_to(r):<27}{action:<12}{r['from']}")
    return "\n".join(out) + "\n\n"


def main(argv: list[str] | None = None) -> int:
    args = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--force"]
    state = _load()
    if not args or args[0] == "status":
        print(status(state, "verbose" in args, "numbered" in args), end="")
        return 0
    cmd = args[0]
    if cmd == "enable":
        state["enabled"] = True
        _save(state)
        print("Firewall is active and enabled on system startup")
        return 0
    if cmd == "disable":
        state["enabled"] = False
        _save(state)
        print("Firewall stopped and disabled on system startup")
        return 0
    if cmd == "reset":
        _path().unlink(missing_ok=True)
        print("Resetting all rules to installed defaults.")
        return 0
    if cmd == "default" and len(args) >= 3:
        state[f"default_{args[2]}"] = args[1]
        _save(state)
        print(
            f"Default {args[2]} policy changed to '{args[1]}'\n(be sure to update your "
            "rules accordingly)"
        )
        return 0
    if cmd == "delete":
        rule = _rule(args[1:])
        if rule in state["rules"]:
            state["rules"].remove(rule)
            _save(state)
            print("Rule deleted")
            print("Rule deleted (v6)")
            return 0
        print("Could not delete non-existent rule")
        return 0
    rule = _rule(args)
    if rule is None:
        print(f"ERROR: Invalid syntax\n\nUsage: ufw COMMAND ({' '.join(args)})", file=sys.stderr)
        return 1
    if rule in state["rules"]:
        print("Skipping adding existing rule")
        if rule["from"] == "Anywhere":
            print("Skipping adding existing rule (v6)")
        return 0
    state["rules"].append(rule)
    _save(state)
    print("Rule added")
    if rule["from"] == "Anywhere":
        print("Rule added (v6)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
