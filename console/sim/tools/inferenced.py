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
from collections.abc import Callable
from pathlib import Path

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
        "--consensus-key",
        "--validator-key",
        "--timeout-duration",
        "--gas-prices",
        "--gas-adjustment",
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


def _output(args: list[str]) -> str:
    return option(args, "--output") or option(args, "-o") or "text"


def _json_info(info: dict) -> dict:
    """A key as `keys show --output json` prints it (the pubkey is a JSON string)."""
    pubkey = json.dumps(
        {"@type": "/cosmos.crypto.secp256k1.PubKey", "key": info["pubkey"]}, separators=(",", ":")
    )
    return {"name": info["name"], "type": "local", "address": info["address"], "pubkey": pubkey}


def _load(kdir: Path, name: str) -> dict | None:
    path = kdir / f"{name}.info"
    return json.loads(path.read_text()) if path.exists() else None


def account_address(pubkey_b64: str) -> str:
    # the chain emulator's, imported when an address is made: its dataclasses cost every
    # start of this tool ~15 ms
    from console.sim.chain import account_address as address  # noqa: PLC0415

    return address(pubkey_b64)


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
        recover = "--recover" in args
        if recover:
            mnemonic = " ".join(_read_line("> Enter your bip39 mnemonic").split())
            if len(mnemonic.split()) not in (12, 24):
                return _fail("invalid mnemonic")
        else:
            mnemonic = " ".join(secrets.choice(WORDS) for _ in range(24))
        # the same mnemonic gives the same key, as BIP-39/BIP-44 derivation does
        seed = hashlib.sha256(("mnemonic/" + mnemonic).encode()).digest()
        pub = bytes([2 + seed[0] % 2]) + seed
        info = {
            "name": name,
            "pubkey": base64.b64encode(pub).decode(),
            "address": account_address(base64.b64encode(pub).decode()),
        }
        kdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = kdir / f"{name}.info"
        path.write_text(json.dumps(info))
        path.chmod(0o600)
        if _output(args) == "json":
            out = _json_info(info)
            if not recover:
                out["mnemonic"] = mnemonic
            print(json.dumps(out))
        elif recover:
            sys.stdout.write("\n" + _yaml(info))
        else:
            sys.stdout.write(
                "\n" + _yaml(info) + "\n\n**Important** write this mnemonic phrase "
                "in a safe place.\nIt is the only way to recover your account if you "
                f"ever forget your password.\n\n{mnemonic}\n"
            )
        return 0
    if sub == "show":
        if not pos:
            return _fail("accepts 1 arg(s), received 0")
        if (kdir / "keyhash").exists():
            _unlock(kdir)  # the file backend asks for the passphrase to read a key too
        info = _load(kdir, pos[0])
        if info is None:
            return _fail(f"{pos[0]} is not a valid name or address: key not found")
        if "-a" in args or "--address" in args:
            print(info["address"])
        elif _output(args) == "json":
            print(json.dumps(_json_info(info)))
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
    if sub == "delete":
        if not pos:
            return _fail("accepts 1 arg(s), received 0")
        _unlock(kdir)
        path = kdir / f"{pos[0]}.info"
        if not path.exists():
            return _fail(f"{pos[0]}.info: key not found")
        path.unlink()
        print("Key deleted forever (uh oh!)")
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


def _node_desc() -> dict | None:
    path = sim_dir() / "node.json"
    if not path.exists():
        return None  # the operator's machine: no node sandbox
    desc = json.loads(path.read_text())
    if not desc.get("chain_api"):
        raise SystemExit(_fail("this node's cluster has no chain"))
    return desc


def chain_api(args: list[str] | None = None) -> str:
    """The chain's public API: on a simulated node its cluster's, whatever the seed URL
    says (seed URLs are invented); on the operator's machine --node-address, as given."""
    desc = _node_desc()
    if desc is not None:
        return desc["chain_api"]
    url = option(args or [], "--node-address")
    if not url:
        raise SystemExit(_fail("node address is required (use --node-address flag)"))
    return url.rstrip("/")


def rpc(args: list[str] | None = None) -> str:
    """The chain's CometBFT RPC: on a node its cluster's (behind the proxy's /chain-rpc/);
    on the operator's machine the --node URL, as the real CLI takes it."""
    desc = _node_desc()
    if desc is not None:
        return desc["chain_api"] + "/chain-rpc"
    url = option(args or [], "--node")
    if not url:
        raise SystemExit(_fail("no --node given and no chain node here"))
    return url.rstrip("/")


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
    """register-new-participant as v0.2.14 prints it (register_participant_command.go). Its
    wait parses the participant as camelCase with a string status while the chain answers
    snake_case with a number, so it times out after a successful registration: the
    simulator keeps that, and shortens the 30-second wait."""
    pos = _positional(args)
    if len(pos) != 2:
        return _fail(f"accepts 2 arg(s), received {len(pos)}")
    seed = option(args, "--node-address")
    if not seed:
        return _fail("node address is required (use --node-address flag)")
    url, pubkey = pos[0], pos[1]
    address = account_address(pubkey)
    api = chain_api(args)
    node = rpc(args) if _node_desc() is not None else None
    consensus = option(args, "--consensus-key")
    if consensus:
        print("Using provided consensus key (validated)")
        source = "provided"
    else:
        print("No consensus key provided, attempting to auto-fetch from chain node...")
        try:
            if node is None:  # DAPI_CHAIN_NODE__URL is only set inside the containers
                raise OSError("DAPI_CHAIN_NODE__URL environment variable is not set")
            status = _get(f"{node}/status")
        except OSError:
            # the `node` container is gone (crash loop): compose's DNS no longer knows it
            return _fail(
                "failed to auto-fetch consensus key: node RPC endpoint not responding. Please "
                'check if the node is properly configured: post failed: Post "http://node:26657": '
                "dial tcp: lookup node on 127.0.0.11:53: no such host"
            )
        consensus = status["result"]["validator_info"]["pub_key"]["value"]
        print("Successfully auto-fetched and validated consensus key from chain node")
        source = "auto-fetched"
    print(
        f"Registering new participant:\n  Node URL: {url}\n  Account Address: {address}\n"
        f"  Account Public Key: {pubkey}\n  Validator Consensus Key: {consensus} ({source})\n"
        f"  Seed Node Address: {seed}"
    )
    print(f"Sending registration request to {seed.rstrip('/')}/v1/participants")
    body = {
        "address": address,
        "url": url,
        "validator_key": consensus,
        "pub_key": pubkey,
        "worker_key": "",
    }
    try:
        _http("POST", f"{api}/v1/participants", body)
    except SystemExit:
        print("Response status code: 500")
        raise
    print("Response status code: 200")
    print("Participant registration successful.")
    print("Waiting for participant to be available (timeout: 30 seconds)...")
    for _ in range(3):
        time.sleep(0.2)
        sys.stdout.write(".")
    where = f"{seed.rstrip('/')}/v2/participants/{address}"
    print("Warning: timeout after 30s waiting for participant to be available")
    print(f"You can manually check your participant at {where}")
    try:
        balance = _get(f"{api}/v2/accounts/{address}")["balance"]
        print(f"Account balance: {balance}")
    except (OSError, KeyError):
        pass
    return 0


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback emulator
        return json.loads(resp.read())


def _broadcast(tx: dict, args: list[str], before: Callable[[dict], None] | None = None) -> int:
    node = rpc(args)
    encoded = base64.b64encode(json.dumps(tx).encode()).decode()
    result = _http(
        "POST",
        f"{node}/",
        {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_sync", "params": {"tx": encoded}},
    )["result"]
    if result["code"] != 0:
        print(
            f"code: {result['code']}\ncodespace: {result['codespace']}\n"
            f"raw_log: {result['log']}\ntxhash: ''"
        )
        return 1
    if before is not None:
        before(result)
    print(f"Transaction sent with hash: {result['hash']}")
    print("Waiting for transaction to be included in a block...")
    target = int(result["height"])
    for _ in range(600):
        height = int(_http("GET", f"{node}/status")["result"]["sync_info"]["latest_block_height"])
        if height >= target:
            print("\nTransaction confirmed successfully!")
            print(f"Block height: {target}")
            return 0
        sys.stdout.write(".")
        sys.stdout.flush()
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
        chain_id = _http("GET", f"{rpc(args)}/status")["result"]["node_info"]["network"]
        print(f"Detected chain-id: {chain_id}")

        def allowance(result: dict) -> None:
            if result.get("log") == "allowance_kept":
                print(
                    "Existing feegrant allowance from cold to warm detected; skipping "
                    "MsgGrantAllowance. Run `inferenced tx feegrant revoke <warm-address>` "
                    "first if you want to refresh it."
                )
            else:
                print("Including new feegrant allowance from cold to warm in this transaction.")

        return _broadcast(
            {"type": "grant-ml-ops-permissions", "granter": granter["address"], "grantee": pos[3]},
            args,
            allowance,
        )
    if pos[:2] == ["inference", "submit-new-participant"] and len(pos) >= 3:
        _unlock(kdir)
        sender = _load(kdir, option(args, "--from") or "")
        if sender is None:
            return _fail(f"{option(args, '--from')}.info: key not found")
        return _broadcast(
            {
                "type": "submit-new-participant",
                "from": sender["address"],
                "pubkey": sender["pubkey"],
                "url": pos[2],
                "validator_key": option(args, "--validator-key") or "",
            },
            args,
        )
    if pos[:2] == ["gov", "vote"] and len(pos) >= 4:
        _unlock(kdir)
        voter = _load(kdir, option(args, "--from") or "")
        if voter is None:
            return _fail(f"{option(args, '--from')}.info: key not found")
        tx = {"type": "gov-vote", "proposal": pos[2], "option": pos[3].lower()}
        return _broadcast(tx | {"from": voter["address"], "pubkey": voter["pubkey"]}, args)
    if pos[:2] == ["slashing", "unjail"]:
        sender = option(args, "--from") or ""
        return _broadcast({"type": "unjail", "from": sender}, args)
    return _fail(f"unknown tx command: {' '.join(pos)}")


def query(args: list[str]) -> int:
    """`query auth account ADDR --output json`, the Cosmos SDK's shape."""
    pos = _positional(args)
    if pos[:2] != ["auth", "account"] or len(pos) < 3:
        return _fail(f"unknown query command: {' '.join(pos)}")
    desc = _node_desc()
    base = desc["chain_api"] if desc else rpc(args).removesuffix("/chain-rpc")
    try:
        doc = _get(f"{base}/chain-api/cosmos/auth/v1beta1/accounts/{pos[2]}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return _fail(
                f"rpc error: code = NotFound desc = account {pos[2]} not found: key not found"
            )
        raise SystemExit(_fail(f"query failed: {exc}")) from None
    acct = doc["account"]
    print(
        json.dumps(
            {
                "account": {
                    "type": "cosmos-sdk/BaseAccount",
                    "value": {
                        "address": acct["address"],
                        "public_key": acct["pub_key"],
                        "account_number": acct["account_number"],
                        "sequence": acct["sequence"],
                    },
                }
            }
        )
    )
    return 0


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
        if command == "query":
            return query(rest)
        if command == "version":
            print("v0.2.14")
            return 0
    except SystemExit as exc:
        return int(exc.code or 1)
    return _fail(f'unknown command "{command}" for "inferenced"')


if __name__ == "__main__":
    sys.exit(main())
