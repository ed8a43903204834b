"""The refresh-token store: Pinterest rotates the refresh token on every refresh and the old one
dies, so the new one must outlive the run (Meltano never writes config back).

The file holds the newest token and a digest of the config token it descends from: when the
config's token changes (the user re-authorised), the config wins over the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from tap_pinterest_ads.config_checks import invalid_setting


def digest(token: str | None) -> str | None:
    return hashlib.sha256(token.encode()).hexdigest() if token else None


@dataclass(frozen=True)
class Grant:
    refresh_token: str
    source: str  # where it came from, for the message when Pinterest refuses it


class TokenStore:
    def __init__(self, path: Path | None, config_token: str | None) -> None:
        self.path = path
        self.config_digest = digest(config_token)
        self.config_token = config_token

    @property
    def source(self) -> str:
        """Where a rotated token lives, for the message when Pinterest refuses it."""
        if self.path is None:
            return "this run's last refresh (not kept: `token_store_path` is not set)"
        return f"the token store `token_store_path` {self.path}"

    def _stored(self) -> dict[str, str] | None:
        if self.path is None or not self.path.is_file():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise invalid_setting(
                "token_store_path", f"{self.path} is not a token store this tap wrote"
            ) from None
        return data if isinstance(data, dict) and data.get("refresh_token") else None

    def grant(self) -> Grant | None:
        stored = self._stored()
        usable = stored is not None and (
            self.config_digest is None or stored.get("seeded_from") == self.config_digest
        )
        if stored is not None and usable:
            return Grant(stored["refresh_token"], self.source)
        if self.config_token:
            return Grant(self.config_token, "the `refresh_token` setting")
        return None

    def check_writable(self) -> None:
        """Before a refresh kills the old token: a store that cannot be written would lose it."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            probe = self._temp()
            probe.unlink()
        except OSError as error:
            raise invalid_setting(
                "token_store_path", f"cannot write {self.path}: {error.strerror or error}"
            ) from None

    def _temp(self) -> Path:
        assert self.path is not None
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        return temp

    def save(self, refresh_token: str) -> None:
        """Atomically: a crash leaves the old file or the new one, never half of one."""
        if self.path is None:
            return
        stored = self._stored()
        seeded_from = self.config_digest or (stored or {}).get("seeded_from")
        text = json.dumps({"refresh_token": refresh_token, "seeded_from": seeded_from})
        temp = self._temp()
        try:
            with temp.open("w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(self.path)  # atomic: os.replace
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
