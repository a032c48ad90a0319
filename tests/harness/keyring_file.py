"""A file-backed keyring backend for tests that run fleetdeck as a subprocess.

Select it with PYTHON_KEYRING_BACKEND=tests.harness.keyring_file.FileKeyring and point
FLEETDECK_TEST_KEYRING at a JSON file; the secret then really comes from "the keyring" as
fleetdeck resolves it, without a desktop keyring service on the test machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # only ever chosen explicitly

    @property
    def path(self) -> Path:
        return Path(os.environ["FLEETDECK_TEST_KEYRING"])

    def _load(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self.path.write_text(json.dumps(data))
        self.path.chmod(0o600)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError(username)
        self.path.write_text(json.dumps(data))
