"""Secret references (`keyring:SERVICE/NAME`, `env:VAR`), resolution, and redaction.

Profiles hold references only; the values live in the OS keyring or the environment and are
registered with the redactor as soon as they are resolved, so no output can carry them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import threading
import urllib.parse
from dataclasses import dataclass

REFERENCE_SYNTAX = "keyring:SERVICE/NAME or env:VAR"

_KEYRING_RE = re.compile(r"^keyring:(?P<service>[^\s/]+)/(?P<name>[^\s/][^\s]*)$")
_ENV_RE = re.compile(r"^env:(?P<var>[A-Za-z_][A-Za-z0-9_]*)$")

# Keys whose values are secrets: a literal value under such a key is refused.
SECRET_KEY_RE = re.compile(
    r"(password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|mnemonic|credential)",
    re.IGNORECASE,
)


class SecretError(Exception):
    """A secret reference that is malformed or cannot be resolved."""


@dataclass(frozen=True)
class SecretRef:
    scheme: str  # "keyring" or "env"
    service: str = ""
    name: str = ""  # keyring entry name, or the environment variable

    def __str__(self) -> str:
        if self.scheme == "env":
            return f"env:{self.name}"
        return f"keyring:{self.service}/{self.name}"


def looks_like_reference(value: str) -> bool:
    """True when the value is meant as a reference (right scheme), well-formed or not."""
    return value.startswith(("keyring:", "env:"))


def parse_ref(value: str) -> SecretRef:
    """Parse a reference, raising SecretError that says the expected syntax."""
    m = _KEYRING_RE.match(value)
    if m:
        return SecretRef("keyring", m["service"], m["name"])
    m = _ENV_RE.match(value)
    if m:
        return SecretRef("env", "", m["var"])
    raise SecretError(
        f"{shown_as_ref(value)} is not a secret reference; expected {REFERENCE_SYNTAX}"
    )


def shown_as_ref(value: str) -> str:
    """How an error names a value that should have been a reference: a malformed reference
    quoted, anything else not repeated (it is likely the secret itself)."""
    return repr(value) if looks_like_reference(value) else "the value (not repeated: a secret?)"


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY_RE.search(key))


class Redactor:
    """Replaces every registered secret value in text with `***`. Thread-safe."""

    MASK = "***"

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        """Mask `value` and every form it takes on its way out (see `forms`)."""
        # very short values would mask ordinary text everywhere; refuse them loudly
        if len(value) < 4:
            raise SecretError("secret values shorter than 4 characters cannot be redacted safely")
        with self._lock:
            self._values.update(forms(value))

    def redact(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for v in values:
            text = text.replace(v, self.MASK)
        return text


def forms(value: str) -> set[str]:
    """The ways a secret can be written out: raw or shell-quoted (config.env, commands),
    each also JSON- and Python-escaped (plan --json, reprs); URL-encoded; base64; and each
    long line or quote-free piece (output is shown a line at a time, with prefixes between
    the lines; shell quoting splits a value at its single quotes)."""
    raw = value.encode()
    written = {value, shlex.quote(value)}
    out = set(written)
    for w in written:
        out |= {json.dumps(w)[1:-1], json.dumps(w, ensure_ascii=False)[1:-1], repr(w)[1:-1]}
    out |= {
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        urllib.parse.quote(value),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    for w in list(out):
        for line in w.splitlines():
            pieces = [line, *line.split("'")]
            out.update(p for p in pieces if len(p.strip()) >= MIN_PIECE)
    return {f for f in out if f}


MIN_PIECE = 6  # a shorter piece of a secret would mask ordinary words
REDACTOR = Redactor()


def resolve(ref: SecretRef | str, redactor: Redactor = REDACTOR) -> str:
    """Return the secret's value and register it with the redactor."""
    if isinstance(ref, str):
        ref = parse_ref(ref)
    if ref.scheme == "env":
        value = os.environ.get(ref.name)
        if value is None:
            raise SecretError(f"environment variable {ref.name} is not set (secret {ref})")
    else:
        import keyring  # imported lazily: choosing a backend can be slow
        from keyring.errors import KeyringError

        try:
            value = keyring.get_password(ref.service, ref.name)
        except KeyringError as exc:
            raise SecretError(f"keyring unavailable for {ref}: {exc}") from exc
        if value is None:
            raise SecretError(
                f"no keyring entry for {ref}; store it with: keyring set {ref.service} {ref.name}"
            )
    redactor.register(value)
    return value
