"""Gonka's keys, per cluster (reference/operations.md §1): the cold account key on the
operator's machine, the warm ML operational key inside the network node's `api` container.

The cold key is made with the local `inferenced` CLI into a keyring directory per cluster
(0700), its keyring password taken from the secret `account_keyring_password` and given on
stdin. Its address and public key go into the cluster's `[clusters.settings]`; its mnemonic
goes only to `engine.reveal` (a terminal, a 0600 file, the console's modal), is masked
everywhere else, and never reaches a node, the journal, argv or the profile. The warm key is
made once; a key that exists is kept (a second one breaks the node).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from actions.engine import Action, Change, NodeContext, Step, StepFailed, StepSkipped
from actions.stacks.gonka import running_containers
from actions.stacks.node_http import note
from console.core.stacks.gonka_chain import Key, parse_key

RELEASES = "https://github.com/gonka-ai/gonka/releases"
COLD_SECRET = "account_keyring_password"  # noqa: S105 - the name of a [secrets] entry
WARM_SECRET = "keyring_password"  # noqa: S105 - the api keyring (config.env KEYRING_PASSWORD)


# ---------------------------------------------------------------- the cold key, here


def keyring_home(ctx: NodeContext) -> Path:
    """The cluster's own cold keyring directory on this machine."""
    if ctx.settings.keyring_home:
        return Path(os.path.expanduser(ctx.settings.keyring_home))
    return keyrings_root() / ctx.profile.fleet.name / ctx.cluster.name


def keyrings_root() -> Path:
    """Where the clusters' cold keyrings live by default: one directory per fleet."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "fleetdeck" / "keyrings"


def local_cli(ctx: NodeContext) -> str:
    """The `inferenced` CLI on this machine, or a clear error saying what to install."""
    wanted = os.path.expanduser(ctx.settings.cli)
    found = shutil.which(wanted)
    if found is None:
        raise StepFailed(
            f"the inferenced CLI was not found ({wanted}): download the release zip for this "
            f'OS from {RELEASES}, unpack `inferenced` onto PATH (or set `cli = "/path/to/'
            'inferenced"` in [stack]); a `qsort_r: symbol not found` error means the build '
            "for another OS"
        )
    return found


def cli(ctx: NodeContext) -> str:
    """The local CLI, quoted for a command line."""
    return shlex.quote(local_cli(ctx))


def cold_args(ctx: NodeContext) -> str:
    return f"--keyring-backend file --keyring-dir {shlex.quote(str(keyring_home(ctx)))}"


def cold_key(ctx: NodeContext) -> Key | None:
    """The cluster's cold key in its keyring here, None when there is none."""
    home = keyring_home(ctx)
    if not (home / "keyring-file" / "keyhash").exists():
        return None  # no keyring yet: asking would make the CLI create one
    name = ctx.settings.account_key_name
    return shown_key(
        ctx,
        f"{cli(ctx)} keys show {shlex.quote(name)} {cold_args(ctx)} --output json",
        COLD_SECRET,
        f"the cold key {name} in {home}",
    )


def shown_key(ctx: NodeContext, command: str, secret: str, what: str) -> Key | None:
    """The key `keys show … --output json` prints (its keyring password on stdin), None
    when the keyring has no such key."""
    out = ctx.run(command, stdin=ctx.secret(secret) + "\n", check=False, quiet=True)
    said = (out.stderr + out.stdout).strip()
    if out.exit == 0:
        return parse_key(out.stdout)[0]
    if "not found" in said or "not a valid name" in said:
        return None
    if "passphrase" in said or "password" in said:
        raise StepFailed(
            f"{what}: the keyring does not open with the secret {secret}: set it to the "
            "password this keyring was made with"
        )
    raise StepFailed(f"cannot read {what}: {said[-300:]}")


def cold_check(ctx: NodeContext) -> Change | None:
    settings, name, home = ctx.settings, ctx.settings.account_key_name, keyring_home(ctx)
    key = cold_key(ctx)
    if key is None and ctx.engine.recover is not None:
        return Change(
            f"import the cold account key {name} into {home} from its mnemonic",
            (f"{cli(ctx)} keys add {shlex.quote(name)} {cold_args(ctx)} --recover --output json",),
            payload=("recover",),
        )
    if key is None:
        if settings.account_pubkey:
            note(ctx, f"the profile names account key {settings.account_pubkey}, kept elsewhere")
            return None  # made on another (air-gapped) machine: nothing to make here
        return Change(
            f"create the cold account key {name} in {home} (its mnemonic is shown once)",
            (f"{cli(ctx)} keys add {shlex.quote(name)} {cold_args(ctx)} --output json",),
        )
    if settings.account_pubkey and settings.account_pubkey != key.pubkey:
        raise StepFailed(
            f"the profile's account_pubkey for cluster {ctx.cluster.name} is not the key "
            f"{name} in {home} ({key.pubkey}): correct the profile, or set keyring_home to "
            "the keyring that holds its key"
        )
    if settings.account_pubkey == key.pubkey and settings.account_address == key.address:
        return None
    return Change(
        f"record the account key's address {key.address} and public key in the profile",
        payload=(key.address, key.pubkey),
    )


def cold_apply(ctx: NodeContext, change: Change) -> None:
    if change.payload == ("recover",):
        address, pubkey = recover(ctx, change)
    elif change.payload:
        address, pubkey = change.payload
    else:
        reveal = ctx.engine.reveal
        if reveal is None:
            raise StepFailed(
                "a new key's mnemonic can only be shown on a terminal or written to a file: "
                "run `fleetdeck run PROFILE keys` in a terminal, or with --mnemonic-file PATH"
            )
        home = keyring_home(ctx)
        private_dirs(home)
        password = ctx.secret(COLD_SECRET)
        out = ctx.run(change.commands[0], stdin=f"{password}\n{password}\n", quiet=True)
        key, mnemonic = parse_key(out.stdout)
        if not mnemonic:
            raise StepFailed(f"the CLI made {key.name} but printed no mnemonic")
        ctx.engine.redactor.register(mnemonic)  # masked wherever else it might show
        try:
            reveal(ctx.cluster.name, key.address, mnemonic)
        except Exception as exc:  # words that reached no one: the key must not stay
            gone = forget(ctx, key.name, password)
            raise StepFailed(
                f"the mnemonic of {key.address} could not be delivered ({exc}): "
                + (
                    "the key was deleted again, none is kept without its words; run keys again"
                    if gone
                    else f"delete the key {key.name} from {home} by hand before running keys "
                    "again: nobody has its words"
                )
            ) from None
        note(ctx, f"made the cold account key {key.name}: {key.address} in {home}")
        address, pubkey = key.address, key.pubkey
    record(ctx, account_address=address, account_pubkey=pubkey)


def private_dirs(home: Path) -> None:
    """The keyring directory 0700, and in the default layout keyrings/ and keyrings/FLEET/
    too: no other user of this machine lists whose keys are there."""
    keyrings = keyrings_root()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in (home, *home.parents):
        if path != home and not path.is_relative_to(keyrings):
            break
        path.chmod(0o700)


def forget(ctx: NodeContext, name: str, password: str) -> bool:
    """Delete the cold key `name` just made (its mnemonic reached no one); whether it went."""
    out = ctx.run(
        f"{cli(ctx)} keys delete {shlex.quote(name)} {cold_args(ctx)} -y",
        stdin=f"{password}\n",
        quiet=True,
        check=False,
    )
    return out.exit == 0


def recover(ctx: NodeContext, change: Change) -> tuple[str, str]:
    """Import the cluster's key from its mnemonic (asked of the operator, on stdin to the
    CLI); a mnemonic that gives another key than the profile names is refused."""
    assert ctx.engine.recover is not None
    mnemonic = " ".join(ctx.engine.recover(ctx.cluster.name).split())
    if not mnemonic:
        raise StepFailed(f"no mnemonic given for cluster {ctx.cluster.name}")
    ctx.engine.redactor.register(mnemonic)
    home = keyring_home(ctx)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    home.chmod(0o700)
    password = ctx.secret(COLD_SECRET)
    first = not (home / "keyring-file" / "keyhash").exists()
    asks = f"{password}\n{password}\n" if first else f"{password}\n"
    out = ctx.run(change.commands[0], stdin=f"{asks}{mnemonic}\n", quiet=True, check=False)
    if out.exit != 0:
        said = (out.stderr + out.stdout).strip().replace(mnemonic, "***")
        raise StepFailed(f"the CLI did not import the key: {said[-300:]}")
    key, _ = parse_key(out.stdout)
    wanted = ctx.settings.account_pubkey
    if wanted and wanted != key.pubkey:
        ctx.run(
            f"{cli(ctx)} keys delete {shlex.quote(key.name)} {cold_args(ctx)} --yes",
            stdin=f"{password}\n",
            quiet=True,
            check=False,
        )
        raise StepFailed(
            f"that mnemonic gives the key {key.pubkey}, not the profile's account_pubkey "
            f"{wanted} for cluster {ctx.cluster.name}: nothing was kept"
        )
    note(ctx, f"imported the cold account key {key.name}: {key.address} into {home}")
    return key.address, key.pubkey


def record(ctx: NodeContext, **values: str) -> None:
    """Write public values into the cluster's [clusters.settings] (comments kept), and let
    this node's later steps see them."""
    engine = ctx.engine
    with engine.profile_lock:
        index, _ = engine.profile.cluster(ctx.cluster.name)
        for field, value in values.items():
            engine.profile.set_value(("clusters", index, "settings", field), value)
        engine.profile.save()
        ctx.profile = engine.profile.model
        ctx.cluster = ctx.profile.clusters[index]
        ctx.settings = ctx.profile.stack_settings(ctx.cluster)
    note(ctx, f"wrote {', '.join(values)} of cluster {ctx.cluster.name} into the profile")


# ---------------------------------------------------------------- the warm key, in `api`


def warm_name(ctx: NodeContext) -> str:
    if not ctx.settings.key_name:
        raise StepFailed(
            f"no key_name for cluster {ctx.cluster.name}: name the warm key in [stack] or the "
            "cluster's [clusters.settings]"
        )
    return ctx.settings.key_name


def in_api(ctx: NodeContext, args: str) -> str:
    """An inferenced command inside the api container, on its file keyring."""
    return f"docker exec -i api inferenced {args} --keyring-backend file"


def warm_key(ctx: NodeContext, needed: bool) -> Key | None:
    if running_containers(ctx).get("api") != "running":
        why = "the api container is not running"
        if needed:
            raise StepFailed(f"{why}: run `fleetdeck run PROFILE deploy` first")
        raise StepSkipped(f"{why} yet: the warm key is made inside it after the deploy")
    name = warm_name(ctx)
    return shown_key(
        ctx,
        in_api(ctx, f"keys show {shlex.quote(name)} --output json"),
        WARM_SECRET,
        f"the warm key {name} in the api container",
    )


def warm_check(ctx: NodeContext, needed: bool = False) -> Change | None:
    key = warm_key(ctx, needed)
    if key is None:
        name = warm_name(ctx)
        return Change(
            f"create the warm key {name} inside the api container (once: an existing key is kept)",
            (in_api(ctx, f"keys add {shlex.quote(name)} --output json"),),
        )
    if ctx.settings.ml_ops_address == key.address:
        return None
    return Change(f"record the warm key's address {key.address}", payload=(key.address,))


def warm_apply(ctx: NodeContext, change: Change) -> None:
    if change.payload:
        address = change.payload[0]
    else:
        password = ctx.secret(WARM_SECRET)
        out = ctx.run(change.commands[0], stdin=f"{password}\n{password}\n", quiet=True)
        key, mnemonic = parse_key(out.stdout)
        if mnemonic:
            ctx.engine.redactor.register(mnemonic)  # the node's keyring is its backup
        note(ctx, f"made the warm key {key.name}: {key.address}")
        address = key.address
    record(ctx, ml_ops_address=address)


COLD_STEP = Step(
    "cold-key",
    "cold account key (on this machine)",
    cold_check,
    cold_apply,
    roles=("network",),
    local=True,
    retries=0,
)
WARM_STEP = Step("warm-key", "warm ML operational key", warm_check, warm_apply, roles=("network",))


def keys_action() -> Action:
    return Action(
        name="keys",
        stacks=("gonka",),
        destructive=True,  # makes keys and writes the profile: the fleet's name is typed
        description="make each cluster's cold account key here and its warm key in the api "
        "container; record their addresses in the profile",
        steps=(COLD_STEP, WARM_STEP),
    )
