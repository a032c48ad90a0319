"""What Gonka's chain, its API and its CLI say about a participant, read in every shape a
supported release writes (reference/operations.md §1-2): plain parsing, no I/O.

`/v2/participants/<addr>` is Go's JSON of a protobuf struct (snake_case keys, a numeric
status, zero values left out); older releases and the CLI's own structs use camelCase and
a status string. Both are read here, so that success is judged by the chain, never by the
CLI's wait (which times out on the v2 shape after a successful registration).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

STATUS_NAMES = {0: "UNSPECIFIED", 1: "ACTIVE", 2: "INACTIVE", 3: "INVALID", 5: "UNCONFIRMED"}


@dataclass(frozen=True)
class Participant:
    address: str
    url: str
    status: str  # ACTIVE, INACTIVE, INVALID, UNCONFIRMED
    validator_key: str
    weight: int
    join_height: int


def parse_participant(doc: Any) -> Participant | None:
    """The participant in a `/v2/participants/<addr>` (or `/v1/…`) answer, None if absent."""
    p = doc.get("participant") if isinstance(doc, dict) else None
    if not isinstance(p, dict):
        return None
    address = p.get("address") or p.get("index") or ""
    if not address:
        return None
    status = p.get("status", 0)
    if isinstance(status, int):
        status = STATUS_NAMES.get(status, str(status))
    return Participant(
        address=str(address),
        url=str(p.get("inference_url") or p.get("inferenceUrl") or p.get("url") or ""),
        status=str(status).removeprefix("PARTICIPANT_STATUS_"),
        validator_key=str(p.get("validator_key") or p.get("validatorKey") or ""),
        weight=int(p.get("weight") or 0),
        join_height=int(p.get("join_height") or p.get("joinHeight") or 0),
    )


@dataclass(frozen=True)
class Key:
    name: str
    address: str
    pubkey: str  # base64 secp256k1, as ACCOUNT_PUBKEY takes it


def parse_key(text: str) -> tuple[Key, str | None]:
    """A key from `inferenced keys add|show … --output json`, and the mnemonic when the
    output carries one (a new key). The pubkey field is itself JSON in a string."""
    doc = json.loads(text.strip().splitlines()[-1])
    pubkey = doc.get("pubkey") or ""
    if isinstance(pubkey, str) and pubkey.startswith("{"):
        pubkey = json.loads(pubkey).get("key", "")
    elif isinstance(pubkey, dict):
        pubkey = pubkey.get("key", "")
    return Key(doc.get("name", ""), doc["address"], str(pubkey)), doc.get("mnemonic")


@dataclass(frozen=True)
class Check:
    id: str
    status: str  # PASS, FAIL, UNAVAILABLE
    message: str
    details: dict


def setup_checks(report: Any) -> list[Check]:
    """The checks of the network node's `GET /admin/v1/setup/report`."""
    checks = report.get("checks") if isinstance(report, dict) else None
    return [
        Check(
            str(c.get("id", "")),
            str(c.get("status", "UNAVAILABLE")),
            str(c.get("message", "")),
            c.get("details") if isinstance(c.get("details"), dict) else {},
        )
        for c in checks or []
        if isinstance(c, dict)
    ]
