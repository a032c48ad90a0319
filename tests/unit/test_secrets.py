"""Secret references, resolution and redaction."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from console.core.secrets import Redactor, SecretError, SecretRef, is_secret_key, parse_ref, resolve


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def mem_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_parse_references():
    assert parse_ref("keyring:fleetdeck/gonka-pass") == SecretRef(
        "keyring", "fleetdeck", "gonka-pass"
    )
    assert parse_ref("env:HF_TOKEN") == SecretRef("env", "", "HF_TOKEN")
    assert str(parse_ref("keyring:a/b")) == "keyring:a/b"
    for bad in ("keyring:nopath", "keyring:/x", "env:1BAD", "env:", "hunter2", "keyring:a b/c"):
        with pytest.raises(SecretError, match="keyring:SERVICE/NAME or env:VAR"):
            parse_ref(bad)


def test_secret_like_keys():
    for key in ("keyring_password", "hf_token", "api_key", "AWS_SECRET", "mnemonic", "credentials"):
        assert is_secret_key(key)
    for key in ("key", "key_name", "account_pubkey", "host", "known_hosts"):
        assert not is_secret_key(key)


def test_resolve_from_env_registers_the_value(monkeypatch):
    monkeypatch.setenv("FD_TEST_SECRET", "s3cr3t-value")
    redactor = Redactor()
    assert resolve("env:FD_TEST_SECRET", redactor) == "s3cr3t-value"
    assert redactor.redact("token=s3cr3t-value ok") == "token=*** ok"


def test_resolve_from_keyring(mem_keyring):
    mem_keyring.set_password("fleetdeck", "gonka-pass", "correct horse")
    redactor = Redactor()
    assert resolve("keyring:fleetdeck/gonka-pass", redactor) == "correct horse"
    assert redactor.redact("pw: correct horse") == "pw: ***"
    with pytest.raises(SecretError, match="keyring set fleetdeck missing"):
        resolve("keyring:fleetdeck/missing", redactor)


def test_unset_env_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("FD_NOT_SET", raising=False)
    with pytest.raises(SecretError, match="FD_NOT_SET is not set"):
        resolve("env:FD_NOT_SET", Redactor())


def test_redactor_masks_longest_first_and_refuses_tiny_values():
    r = Redactor()
    r.register("abcd")
    r.register("abcdefgh")
    assert r.redact("x abcdefgh y abcd") == "x *** y ***"
    with pytest.raises(SecretError):
        r.register("ab")


HOSTILE = "Kp 'it's' \"$HOME\" \\back\\slash $(id)\nsecond-line-of-it"


def test_every_written_form_of_a_secret_is_masked():
    import base64
    import json
    import shlex
    import urllib.parse

    r = Redactor()
    r.register(HOSTILE)
    written = {
        "raw": f"pw={HOSTILE}.",
        "shell": f"export KEYRING_PASSWORD={shlex.quote(HOSTILE)}\n",
        "json": json.dumps({"diff": f"+export X={shlex.quote(HOSTILE)}"}),
        "python": repr(HOSTILE),
        "url": "https://x/?p=" + urllib.parse.quote(HOSTILE, safe=""),
        "form": "p=" + urllib.parse.quote_plus(HOSTILE),
        "base64": base64.b64encode(HOSTILE.encode()).decode(),
        # a diff or an output stream shows it a line at a time, prefixed
        "lines": "".join(f"c1-net | {line}\n" for line in HOSTILE.splitlines()),
    }
    pieces = ["Kp 'it", "$HOME", "back", "second-line-of-it", "$(id)"]
    for kind, text in written.items():
        masked = r.redact(text)
        assert "***" in masked, kind
        for piece in pieces:
            assert piece not in masked or piece not in text, (kind, masked)
    assert r.redact("ordinary words stay") == "ordinary words stay"
