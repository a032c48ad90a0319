"""A fake `inferenced`: the key, registration and permission commands of Gonka's CLI.

Keys live in a file keyring in the node's sandbox ($HOME/.inference/keyring-file), guarded
by the keyring passphrase read from stdin, and print the Cosmos SDK's output. Commands
that reach the chain go to the node's cluster chain emulator, whatever --node says.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from console.sim.chain import account_address
from console.sim.tools import option, sim_dir

# a slice of the BIP-39 English list: enough for mnemonics that look right
WORDS = (  # noqa: SIM905
    "abandon ability able about above absent absorb abstract absurd abuse access "
    "accident account accuse achieve acid acoustic acquire across act action actor "
    "actress actual adapt add addict address adjust admit adult advance advice aerobic "
    "affair afford afraid again age agent agree ahead aim air airport aisle alarm album "
    "alcohol alert alien all alley allow almost alone alpha already also alter always "
    "amateur amazing among amount amused analyst anchor ancient anger angle angry animal "
    "ankle announce annual another answer antenna antique anxiety any apart apology "
    "appear apple approve april arch arctic area arena argue arm armed armor army around "
    "arrange arrest arrive arrow art artefact artist artwork ask aspect assault asset "
    "assist assume asthma athlete atom attack attend attitude attract auction audit "
    "august aunt author auto autumn average avocado avoid awake aware away awesome "
    "awful awkward axis"
).split()


def keyring_dir(args: list[str]) -> Path:
    explicit = option(args, "--keyring-dir")
    base = Path(explicit) if explicit else Path(os.environ.get("HOME", ".")) / ".inference"
    return base / "keyring-file"


def _positional(args: list[str]) -> list[str]:
    out, skip = [], False
    takes = {
        "--keyring-backend",
        "--keyring-dir",
        "--from",
        "--gas",
        "--node",
        "--chain-id",
        "--fees",
        "--node-address",
        "--output",
        "-o",
        "--home",
    }
    for a in args:
        if skip:
            skip = False
            continue
        if a in takes:
            skip = True
            continue
        if not a.startswith("-"):
            out.append(a)
    return out


def _read_line(prompt: str | None) -> str:
    if prompt:
        sys.stderr.write(prompt + "\n")
    line = sys.stdin.readline()
    if not line:
        raise SystemExit(_fail("EOF"))
    return line.rstrip("\n")


def _fail(message: str, code: int = 1) -> int:
    sys.stderr.write(f"Error: {message}\n")
    return code


def _unlock(kdir: Path) -> None:
    """The file backend asks for the keyring passphrase; set it on first use."""
    keyhash = kdir / "keyhash"
    if keyhash.exists():
        pw = _read_line("Enter keyring passphrase (attempt 1/3):" if sys.stdin.isatty() else None)
        salt, want = keyhash.read_text().split(":")
        if hashlib.sha256((salt + pw).encode()).hexdigest() != want:
            raise SystemExit(_fail("too many failed passphrase attempts"))
        return
    pw = _read_line("Enter keyring passphrase (attempt 1/3):" if sys.stdin.isatty() else None)
    again = _read_line("Re-enter keyring passphrase:" if sys.stdin.isatty() else None)
    if pw != again:
        raise SystemExit(_fail("passphrase do not match"))
    if len(pw) < 8:
        raise SystemExit(_fail("password must be at least 8 characters"))
    kdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    salt = secrets.token_hex(8)
    keyhash.write_text(f"{salt}:{hashlib.sha256((salt + pw).encode()).hexdigest()}")
    keyhash.chmod(0o600)


def _yaml(info: dict) -> str:
    pubkey = json.dumps(
        {"@type": "/cosmos.crypto.secp256k1.PubKey", "key": info["pubkey"]}, separators=(",", ":")
    )
    return (
        f"- address: {info['address']}\n  name: {info['name']}\n"
        f"  pubkey: '{pubkey}'\n  type: local\n"
    )


def _load(kdir: Path, name: str) -> dict | None:
    path = kdir / f"{name}.info"
    return json.loads(path.read_text()) if path.exists() else None


def keys(args: list[str]) -> int:
    sub = args[0] if args else ""
    pos = _positional(args[1:])
    kdir = keyring_dir(args)
    if sub == "add":
        if not pos:
            return _fail("accepts 1 arg(s), received 0")
        name = pos[0]
        _unlock(kdir)
        if _load(kdir, name) is not None:
            return _fail(f"{name} already exists; use a different name")
        pub = bytes([2 + secrets.randbelow(2)]) + secrets.token_bytes(32)
        info = {
            "name": name,
            "pubkey": base64.b64encode(pub).decode(),
            "address": account_address(base64.b64encode(pub).decode()),
        }
        path = kdir / f"{name}.info"
        path.write_text(json.dumps(info))
        path.chmod(0o600)
        mnemonic = " ".join(secrets.choice(WORDS) for _ in range(24))
        sys.stdout.write(
            "\n" + _yaml(info) + "\n\n**Important** write this mnemonic phrase "
            "in a safe place.\nIt is the only way to recover your account if you "
            f"ever forget your password.\n\n{mnemonic}\n"
        )
        return 0
    if sub == "show":
        if not pos:
            return _fail("accepts 1 arg(s), received 0")
        info = _load(kdir, pos[0])
        if info is None:
            return _fail(f"{pos[0]} is not a valid name or address: key not found")
        if "-a" in args or "--address" in args:
            print(info["address"])
        elif "-p" in args or "--pubkey" in args:
            print(
                json.dumps(
                    {"@type": "/cosmos.crypto.secp256k1.PubKey", "key": info["pubkey"]},
                    separators=(",", ":"),
                )
            )
        else:
            sys.stdout.write(_yaml(info))
        return 0
    if sub == "list":
        infos = sorted(
            (json.loads(p.read_text()) for p in kdir.glob("*.info")), key=lambda i: i["name"]
        )
        sys.stdout.write(
            "".join(_yaml(i) for i in infos) if infos else "No records were found in keyring\n"
        )
        return 0
    return _fail(f'unknown command "{sub}" for "inferenced keys"')


# ---------------------------------------------------------------- the chain


def chain_api() -> str:
    desc = json.loads((sim_dir() / "node.json").read_text())
    if not desc.get("chain_api"):
        raise SystemExit(_fail("this node's cluster has no chain"))
    return desc["chain_api"]


def _http(method: str, url: str, body: object = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(  # noqa: S310 - the URL is the loopback chain emulator
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback emulator
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise SystemExit(
            _fail(f"{url}: {exc.code} {exc.read().decode(errors='replace')}")
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise SystemExit(_fail(f"post failed: {url}: {exc}")) from None


def register(args: list[str]) -> int:
    pos = _positional(args)
    if len(pos) < 2:
        return _fail(f"accepts 2 arg(s), received {len(pos)}")
    url, pubkey = pos[0], pos[1]
    api = chain_api()
    status = _http("GET", f"{api}/chain-rpc/status")["result"]
    validator_key = status["validator_info"]["pub_key"]["value"]
    print(
        f"Registering new participant:\n  Node URL: {url}\n  Account Public Key: {pubkey}\n"
        f"  Validator Key: {validator_key}"
    )
    result = _http(
        "POST",
        f"{api}/v1/participants",
        {"url": url, "pub_key": pubkey, "validator_key": validator_key},
    )
    print(f"Participant registration successful.\nParticipant address: {result['address']}")
    return 0


def _broadcast(tx: dict) -> int:
    api = chain_api()
    encoded = base64.b64encode(json.dumps(tx).encode()).decode()
    result = _http(
        "POST",
        f"{api}/chain-rpc/",
        {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_sync", "params": {"tx": encoded}},
    )["result"]
    if result["code"] != 0:
        print(
            f"code: {result['code']}\ncodespace: {result['codespace']}\n"
            f"raw_log: {result['log']}\ntxhash: ''"
        )
        return 1
    print(f"Transaction sent with hash: {result['hash']}")
    print("Waiting for transaction to be included in a block...")
    target = int(result["height"])
    for _ in range(600):
        height = int(
            _http("GET", f"{api}/chain-rpc/status")["result"]["sync_info"]["latest_block_height"]
        )
        if height >= target:
            print("Transaction confirmed successfully!")
            print(f"Block height: {target}")
            return 0
        time.sleep(0.1)
    return _fail(f"timed out waiting for tx {result['hash']} to be included")


def tx(args: list[str]) -> int:
    pos = _positional(args)
    kdir = keyring_dir(args)
    if pos[:2] == ["inference", "grant-ml-ops-permissions"] and len(pos) >= 4:
        _unlock(kdir)
        granter = _load(kdir, pos[2])
        if granter is None:
            return _fail(f"{pos[2]}.info: key not found")
        return _broadcast(
            {"type": "grant-ml-ops-permissions", "granter": granter["address"], "grantee": pos[3]}
        )
    if pos[:2] == ["slashing", "unjail"]:
        sender = option(args, "--from") or ""
        return _broadcast({"type": "unjail", "from": sender})
    return _fail(f"unknown tx command: {' '.join(pos)}")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("Usage:\n  inferenced [command]")
        return 1
    command, rest = args[0], args[1:]
    try:
        if command == "keys":
            return keys(rest)
        if command == "register-new-participant":
            return register(rest)
        if command == "tx":
            return tx(rest)
        if command == "version":
            print("v0.2.9")
            return 0
    except SystemExit as exc:
        return int(exc.code or 1)
    return _fail(f'unknown command "{command}" for "inferenced"')


if __name__ == "__main__":
    sys.exit(main())
