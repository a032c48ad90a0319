"""RFC 3339 times as the nodes' tools write them (Docker's StartedAt and log stamps,
CometBFT's block times): UTC, `Z`, up to nanoseconds, `0001-01-01…` for "never"."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339_seconds(text: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 UTC time (microseconds kept), or None for no time."""
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    try:
        base = datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
    digits = "".join(ch for ch in frac if ch.isdigit())[:6]
    return base + (float(f"0.{digits}") if digits else 0.0)
