"""`fleetdeck run PROFILE upgrade --to VERSION --manifest FILE`: an API hot patch by the
official procedure (network updates, Aug 3; reference/gonka-0.2.15.md §3.3), one network
node at a time, stopping at the first that fails:

  window    nothing while PoC or a confirmation PoC runs (gonka_window.py)
  download  the binary into .dapi/cosmovisor/upgrades/<v>/bin/ on the node, its sha256
            checked against the manifest's before it is put there (a mismatch leaves the
            node as it was)
  switch    docker stop api, relink .dapi/cosmovisor/current to upgrades/<v> (the link it
            replaces kept in .dapi/cosmovisor/previous), docker start api
  verify    /v1/versions says the new version

`--rollback` relinks the version kept in `previous` and verifies the API answers it.

The manifest is TOML: `[patches."v0.2.15-post5"]` with `url` and `sha256`.
"""

from __future__ import annotations

import re
import shlex
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from actions.engine import Action, Change, NodeContext, Step, StepFailed
from actions.stacks.gonka import in_deploy_dir, running_containers
from actions.stacks.gonka_register import api_url
from actions.stacks.gonka_window import wait_for_window
from actions.stacks.node_http import node_json, note
from actions.types import StepRefused
from console.core.stacks.gonka_api import read_versions

COSMOVISOR = ".dapi/cosmovisor"  # in the deploy directory (compose mounts ./.dapi)
BINARY = "decentralized-api"
API = "api"  # the container compose names
VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[A-Za-z0-9.]+)?$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
VERIFY_S = 60.0
NOT_A_LINK = "?not-a-link"

# on the node: download argv[1] to argv[3] through a temporary file beside it, put it in
# place only when its sha256 is argv[2] (exit 3 and the digest seen otherwise)
DOWNLOAD = (
    "import hashlib,os,sys,urllib.request\n"
    "url,want,dest=sys.argv[1:4]\n"
    "os.makedirs(os.path.dirname(dest),exist_ok=True)\n"
    "tmp=dest+'.part'\n"
    "h=hashlib.sha256()\n"
    "with urllib.request.urlopen(url,timeout=60) as r, open(tmp,'wb') as f:\n"
    "    for chunk in iter(lambda: r.read(1<<20), b''):\n"
    "        h.update(chunk); f.write(chunk)\n"
    "if h.hexdigest()!=want:\n"
    "    os.unlink(tmp); print('sha256 '+h.hexdigest()); sys.exit(3)\n"
    "os.chmod(tmp,0o755); os.replace(tmp,dest)\n"
)
# on the node: the sha256 of argv[1], or nothing where there is no such file
DIGEST = (
    "import hashlib,sys\n"
    "try:\n"
    "    print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())\n"
    "except OSError:\n"
    "    pass\n"
)


@dataclass(frozen=True)
class Patch:
    version: str
    url: str
    sha256: str


def read_manifest(path: Path, version: str) -> Patch:
    """The patch `version` of a release manifest; a clear error naming the file otherwise."""
    if not VERSION.match(version):
        raise StepFailed(f"--to {version!r} is not a version (e.g. v0.2.15-post5)")
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StepFailed(f"{path}: not a readable manifest: {exc}") from None
    entry = (doc.get("patches") or {}).get(version)
    if not isinstance(entry, dict):
        known = ", ".join(doc.get("patches") or {}) or "none"
        raise StepFailed(f"{path}: no [patches.{version!r}] (it has: {known})")
    url, digest = str(entry.get("url", "")), str(entry.get("sha256", "")).lower()
    if not url.startswith(("https://", "http://")):
        raise StepFailed(f"{path}: [patches.{version!r}] url must be an http(s) URL")
    if not SHA256.match(digest):
        raise StepFailed(f"{path}: [patches.{version!r}] sha256 must be 64 hex digits")
    return Patch(version, url, digest)


def _patch(ctx: NodeContext) -> Patch:
    patch = ctx.engine.upgrade
    if patch is None:
        raise StepFailed("which patch? run upgrade --to VERSION --manifest FILE (or --rollback)")
    return patch


def _in_dir(ctx: NodeContext, command: str) -> str:
    return in_deploy_dir(ctx, command, env=False)


def _current(ctx: NodeContext, name: str = "current") -> str:
    """Where .dapi/cosmovisor/<name> points ("" where it is no link)."""
    link = shlex.quote(f"{COSMOVISOR}/{name}")
    # a `current` that is not a link (a directory) is said, never relinked into
    read = f"if [ -L {link} ]; then readlink {link}; elif [ -e {link} ]; then echo {NOT_A_LINK}; fi"
    if name == "previous":
        read = f"cat {link} 2>/dev/null || true"
    return ctx.run(_in_dir(ctx, read), quiet=True, check=False).stdout.strip()


def window_check(ctx: NodeContext) -> None:
    wait_for_window(ctx, "the API's upgrade")


def download_check(ctx: NodeContext) -> Change | None:
    if ctx.engine.rollback:
        return None
    patch = _patch(ctx)
    dest = f"{COSMOVISOR}/upgrades/{patch.version}/bin/{BINARY}"
    have = ctx.run(
        _in_dir(ctx, f"python3 -c {shlex.quote(DIGEST)} {shlex.quote(dest)}"),
        quiet=True,
        check=False,
    ).stdout.strip()
    if have == patch.sha256:
        return None
    command = _in_dir(
        ctx,
        f"python3 -c {shlex.quote(DOWNLOAD)} {shlex.quote(patch.url)} "
        f"{shlex.quote(patch.sha256)} {shlex.quote(dest)}",
    )
    return Change(f"download {patch.url} into {dest}, its sha256 checked", (command,))


def download_apply(ctx: NodeContext, change: Change) -> None:
    out = ctx.run(change.commands[0], check=False)
    if out.exit == 3:
        seen = out.stdout.strip().removeprefix("sha256 ")
        # not retried, and no further host is started: a wrong binary is not a hiccup
        raise StepRefused(
            f"the download's sha256 is {seen}, the manifest says {_patch(ctx).sha256}: "
            "nothing was put in place; the node stays on its version"
        )
    if out.exit != 0:
        raise StepFailed(f"the download failed: {(out.stdout + out.stderr).strip()[-300:]}")


def _target(ctx: NodeContext) -> str:
    """Where `current` must point: the patch's directory, or the kept previous one."""
    if ctx.engine.rollback:
        previous = _current(ctx, "previous")
        if not previous:
            raise StepFailed(f"no previous version kept in {COSMOVISOR}/previous: nothing to undo")
        return previous
    return f"upgrades/{_patch(ctx).version}"


def switch_check(ctx: NodeContext) -> Change | None:
    target, now = _target(ctx), _current(ctx)
    if now == target:
        # relinked, but api may be stopped (an attempt cut after its relink): start it
        if running_containers(ctx).get(API) == "running":
            return None
        return Change(
            f"current points to {target}; start api", (_in_dir(ctx, f"docker start {API}"),)
        )
    if now == NOT_A_LINK:
        raise StepFailed(
            f"{COSMOVISOR}/current is not a link: not the layout Gonka's procedure relinks; "
            "look at it on the node before patching it by hand"
        )
    keep = "" if ctx.engine.rollback else f"printf '%s\\n' {shlex.quote(now)} > previous && "
    command = _in_dir(
        ctx,
        f"docker stop {API} && "
        f"cd {shlex.quote(COSMOVISOR)} && {keep}ln -sfn {shlex.quote(target)} current && "
        f"cd - >/dev/null && docker start {API}",
    )
    return Change(
        f"stop api, relink current from {now or '(none)'} to {target}, start api", (command,)
    )


def switch_apply(ctx: NodeContext, change: Change) -> None:
    ctx.run(change.commands[0])


def verify_check(ctx: NodeContext) -> None:
    """The API answers, and says the version it should."""
    target = _target(ctx)
    want = target.rsplit("/", 1)[-1] if target.startswith("upgrades/") else None
    seen, deadline = None, time.monotonic() + VERIFY_S
    while True:
        code, doc = node_json(ctx, api_url(ctx, "/v1/versions"))
        if code == 200:
            try:
                seen = read_versions(doc).api
            except ValueError:
                seen = None
            if seen and (want is None or seen == want):
                note(ctx, f"{time.strftime('%H:%M:%S')} the API answers {seen}")
                return
        if time.monotonic() > deadline or ctx.engine.aborted.is_set():
            break
        time.sleep(1.0)
    undo = "" if ctx.engine.rollback else "; `run PROFILE upgrade --rollback` relinks the previous"
    raise StepFailed(f"the API answers {seen or 'nothing'}, not {want or 'a version'}{undo}")


def upgrade_action() -> Action:
    return Action(
        name="upgrade",
        stacks=("gonka",),
        serial=True,  # one machine at a time, stopping at the first that fails
        cli_options="--to VERSION --manifest FILE, or --rollback",
        description="an API hot patch, one network node at a time inside the window: "
        "download and verify, stop api, relink, start, check /v1/versions (or --rollback)",
        steps=(
            Step(
                "window",
                "outside PoC and confirmation PoC",
                window_check,
                roles=("network",),
                retries=0,
            ),
            Step(
                "download",
                "the patch's binary, sha256 checked",
                download_check,
                download_apply,
                roles=("network",),
                retries=1,
                timeout=600,
            ),
            Step(
                "switch",
                "stop api, relink current, start api",
                switch_check,
                switch_apply,
                roles=("network",),
                retries=1,  # safe: a second attempt finds the link made and starts api
            ),
            Step(
                "verify",
                "/v1/versions says the version",
                verify_check,
                roles=("network",),
                retries=0,
            ),
        ),
    )
