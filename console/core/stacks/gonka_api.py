"""Gonka's public API (`/v1/…` on a host's proxy) read in the shape of every release a
fleet may run: plain parsing, no I/O, one tolerant reader per endpoint.

v0.2.15 changed shapes without changing paths (reference/gonka-0.2.15.md §3.2): the epoch's
`epoch_params` nested once more with its integers as strings, the participants' numbers
as strings, `/v1/versions` without `mlnodes` on a host not yet patched (and
`/v1/poc-batches/{epoch}` a 404 where it was an empty list: fleetdeck reads no PoC
batches). Each reader accepts both, and says what is missing when an answer is neither
(`ApiShapeError`, a ValueError).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.core.times import rfc3339_seconds

# the official notices: change nothing during PoC or confirmation PoC; the 500 blocks
# before each PoC are the window to use (reference/gonka-0.2.15.md §3.3)
SAFE_WINDOW_BLOCKS = 500
POC_PHASES = ("PoCGenerate", "PoCGenerateWindDown", "PoCValidate", "PoCValidateWindDown")


class ApiShapeError(ValueError):
    """An answer of neither known shape: what was looked for, and where."""


def number(value: Any) -> int | None:
    """An integer as either release writes it (37778 or "37778"); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _need(doc: Any, *path: str) -> Any:
    at = doc
    for key in path:
        if not isinstance(at, dict) or key not in at:
            raise ApiShapeError(f"no {'.'.join(path)} in the answer")
        at = at[key]
    return at


def _need_number(doc: Any, *path: str) -> int:
    value = number(_need(doc, *path))
    if value is None:
        raise ApiShapeError(f"{'.'.join(path)} is not a number")
    return value


@dataclass(frozen=True)
class Epoch:
    """`/v1/epochs/latest`."""

    index: int
    phase: str
    block_height: int
    poc_start: int  # this epoch's PoC start
    next_poc_start: int | None
    epoch_length: int | None
    confirmation_poc: bool  # is_confirmation_poc_active; False where the field is absent

    @property
    def blocks_to_poc(self) -> int | None:
        if self.next_poc_start is None:
            return None
        return max(0, self.next_poc_start - self.block_height)

    @property
    def window_at(self) -> int | None:
        """The block where the safe window before the next PoC opens."""
        return None if self.next_poc_start is None else self.next_poc_start - SAFE_WINDOW_BLOCKS


def _epoch_params(doc: dict) -> dict:
    """v0.2.14: `epoch_params.epoch_length`; v0.2.15: `epoch_params.epoch_params.…`."""
    params = doc.get("epoch_params")
    if isinstance(params, dict) and isinstance(params.get("epoch_params"), dict):
        return params["epoch_params"]
    return params if isinstance(params, dict) else {}


def read_epoch(doc: Any) -> Epoch:
    stages = doc.get("next_epoch_stages") if isinstance(doc, dict) else None
    active = doc.get("is_confirmation_poc_active") if isinstance(doc, dict) else None
    return Epoch(
        index=_need_number(doc, "latest_epoch", "index"),
        phase=str(_need(doc, "phase")),
        block_height=_need_number(doc, "block_height"),
        poc_start=_need_number(doc, "latest_epoch", "poc_start_block_height"),
        next_poc_start=number(stages.get("poc_start")) if isinstance(stages, dict) else None,
        epoch_length=number(_epoch_params(doc).get("epoch_length")),
        confirmation_poc=active is True or active == "true",
    )


@dataclass(frozen=True)
class ActiveParticipant:
    index: str  # the participant's address
    validator_key: str
    weight: int
    url: str
    models: tuple[str, ...]


@dataclass(frozen=True)
class EpochParticipants:
    """`/v1/epochs/{epoch|current}/participants`."""

    epoch_id: int | None
    poc_start: int | None
    participants: tuple[ActiveParticipant, ...]

    def by_validator_key(self, key: str) -> ActiveParticipant | None:
        return next((p for p in self.participants if p.validator_key == key), None)

    def by_address(self, address: str) -> ActiveParticipant | None:
        return next((p for p in self.participants if p.index == address), None)


def read_epoch_participants(doc: Any) -> EpochParticipants:
    active = _need(doc, "active_participants")
    listed = active.get("participants") if isinstance(active, dict) else None
    if not isinstance(listed, list):
        raise ApiShapeError("no active_participants.participants list in the answer")
    return EpochParticipants(
        epoch_id=number(active.get("epoch_id")),
        poc_start=number(active.get("poc_start_block_height")),
        participants=tuple(
            ActiveParticipant(
                index=str(p.get("index") or ""),
                validator_key=str(p.get("validator_key") or ""),
                weight=number(p.get("weight")) or 0,
                url=str(p.get("inference_url") or ""),
                models=tuple(str(m) for m in p.get("models") or ()),  # omitted when empty
            )
            for p in listed
            if isinstance(p, dict)
        ),
    )


@dataclass(frozen=True)
class Versions:
    """`/v1/versions`: `mlnodes` is None on a host not yet patched (the key is absent)."""

    api: str | None
    node: str | None
    mlnodes: tuple[tuple[str, str], ...] | None  # (id, version)


def read_versions(doc: Any) -> Versions:
    if not isinstance(doc, dict) or not ("api_version" in doc or "node_version" in doc):
        raise ApiShapeError("no api_version or node_version in the answer")
    raw = doc.get("mlnodes")
    mlnodes = None
    if isinstance(raw, list):  # the patched hosts' exact fields are not published: by name
        mlnodes = tuple(
            (
                str(m.get("id") or m.get("node_id") or "?"),
                str(m.get("version") or m.get("image") or m.get("image_version") or "?"),
            )
            for m in raw
            if isinstance(m, dict)
        )
    return Versions(
        api=str(doc["api_version"]) if doc.get("api_version") else None,
        node=str(doc["node_version"]) if doc.get("node_version") else None,
        mlnodes=mlnodes,
    )


@dataclass(frozen=True)
class EpochStats:
    """A participant's inferences and misses in one epoch: the chain's `current_epoch_stats`
    of a participant, or an `epochPerformanceSummary` of a past epoch."""

    epoch: int | None
    inferences: int
    missed: int

    @property
    def requests(self) -> int:
        return self.inferences + self.missed

    @property
    def miss_rate(self) -> float | None:
        return self.missed / self.requests if self.requests else None


def read_epoch_stats(doc: Any) -> EpochStats:
    """From `/chain-api/…/participant/{addr}` (its `participant.current_epoch_stats`) or
    `…/epoch_performance_summary/{epoch}/{addr}` (its `epochPerformanceSummary`)."""
    stats = None
    if isinstance(doc, dict):
        summary = doc.get("epochPerformanceSummary") or doc.get("epoch_performance_summary")
        participant = doc.get("participant")
        if isinstance(summary, dict):
            stats = summary
        elif isinstance(participant, dict):
            stats = participant.get("current_epoch_stats")
        elif "missed_requests" in doc:
            stats = doc
    if not isinstance(stats, dict) or "missed_requests" not in stats:
        raise ApiShapeError("no epoch stats (current_epoch_stats or epochPerformanceSummary)")
    return EpochStats(
        epoch=number(stats.get("epoch_index")),
        inferences=number(stats.get("inference_count")) or 0,
        missed=number(stats.get("missed_requests")) or 0,
    )


def poc_hold(
    phase: str | None,
    confirmation_poc: bool | None,
    height: int | None,
    window_at: int | None,
    cluster: str,
) -> str | None:
    """Why a change to a cluster's chain, API or ML containers must wait now, in the
    official notices' words, or None when it need not (the console and the deploy say
    the same)."""
    if confirmation_poc:
        running = "a confirmation PoC runs"
    elif phase in POC_PHASES:
        running = f"PoC runs ({phase})"
    else:
        return None
    when = "; wait until it ends"
    if window_at is not None and height is not None and window_at > height:
        when = f"; the window before the next PoC opens at block {window_at}"
        when += f" ({window_at - height} blocks from now)"
    return f"{running} on cluster {cluster}: a restart now can cost the epoch's weight{when}"


@dataclass(frozen=True)
class Proposal:
    """A governance proposal (x/gov v1 through the host's /chain-api/)."""

    id: int
    title: str
    status: str  # VOTING_PERIOD, PASSED, … (PROPOSAL_STATUS_ left off)
    voting_end: float | None  # unix time
    kinds: tuple[str, ...]  # its messages' types, short: MsgSoftwareUpgrade
    expedited: bool


def read_proposals(doc: Any) -> list[Proposal]:
    listed = _need(doc, "proposals")
    if not isinstance(listed, list):
        raise ApiShapeError("proposals is not a list")
    out = []
    for p in listed:
        pid = number(p.get("id") or p.get("proposal_id")) if isinstance(p, dict) else None
        if pid is None:
            continue
        messages = p.get("messages") or []
        out.append(
            Proposal(
                id=pid,
                # v0.47+ has a title; older proposals keep theirs in the legacy content
                title=str(p.get("title") or (p.get("content") or {}).get("title") or ""),
                status=str(p.get("status", "")).removeprefix("PROPOSAL_STATUS_"),
                voting_end=rfc3339_seconds(p.get("voting_end_time")),
                kinds=tuple(
                    str(m.get("@type", "")).rsplit(".", 1)[-1]
                    for m in messages
                    if isinstance(m, dict)
                ),
                expedited=p.get("expedited") is True,
            )
        )
    return out


def read_vote(status: int, doc: Any) -> str | None:
    """A voter's vote on a proposal (`yes`, `no`, `abstain`, `no_with_veto`, or a weighted
    split), None when it has not voted (the chain answers NotFound)."""
    if status == 404:
        return None
    if status != 200:
        raise ApiShapeError(f"the API answered {status}")
    options = _need(doc, "vote").get("options") or []
    words = [
        str(o.get("option", "")).removeprefix("VOTE_OPTION_").lower()
        for o in options
        if isinstance(o, dict)
    ]
    return ", ".join(words) or None
