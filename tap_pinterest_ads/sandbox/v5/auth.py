"""OAuth for the v5 family: refresh-token rotation and expiring bearer tokens."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from ..state import Outcome

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"  # noqa: S105  (the sandbox's documented test credential)
FIRST_REFRESH_TOKEN = "sandbox-refresh-0"  # noqa: S105
FIRST_ACCESS_TOKEN = "sandbox-access-0"  # noqa: S105  valid from startup, for configs that preset one
SCOPE = "ads:read,boards:read,catalogs:read,pins:read,user_accounts:read"
REFRESH_TTL_SECONDS = 60 * 86400  # continuous refresh tokens: a 60-day window
AUTH_FAILED = {"code": 2, "message": "Authentication failed."}
INVALID_GRANT = {"code": 283, "message": "The authorization grant is invalid"}


def bad_request(message: str) -> Outcome:
    return Outcome(400, {"code": 1, "message": message})


@dataclass
class Tokens:
    """Live tokens and what the token endpoint saw. Tokens are minted from the seed, the reset
    epoch and a counter, so a run is repeatable and a token never outlives a reset."""

    seed: int
    epoch: int = 0
    issued: int = 0
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.time())
    refresh: set[str] = field(default_factory=set)
    stats: dict[str, int] = field(default_factory=dict)

    def reset(self, epoch: int, access_ttl: float) -> None:
        self.epoch, self.issued = epoch, 0
        self.access = {FIRST_ACCESS_TOKEN: time.time() + access_ttl}
        self.refresh = {FIRST_REFRESH_TOKEN}
        self.stats = dict.fromkeys(
            ("refreshes", "refused_grants", "bad_clients", "without_continuous_refresh"), 0
        )

    def _mint(self, prefix: str) -> str:
        digest = hashlib.sha256(f"{self.seed}:{self.epoch}:{prefix}:{self.issued}".encode())
        return f"{prefix}_{digest.hexdigest()[:40]}"

    def valid(self, bearer: str | None) -> bool:
        expiry = self.access.get(bearer or "")
        return expiry is not None and expiry > time.time()

    def expire_access(self) -> int:
        """Every access token expires now (the tap must refresh); returns how many were live."""
        live = sum(1 for expiry in self.access.values() if expiry > time.time())
        self.access = dict.fromkeys(self.access, 0.0)
        return live

    def revoke_refresh(self) -> None:
        """The user revoked the app: every refresh token is dead (the next refresh gets 283)."""
        self.refresh.clear()

    def state(self) -> dict[str, Any]:
        now = time.time()
        return {
            "refresh_tokens": sorted(self.refresh),
            "access_tokens_live": sum(1 for expiry in self.access.values() if expiry > now),
            **self.stats,
        }

    def grant(
        self, authorization: str, form: dict[str, str], access_ttl: float, refused_status: int
    ) -> Outcome:
        if not _client_ok(authorization):
            self.stats["bad_clients"] += 1
            return Outcome(401, dict(AUTH_FAILED))
        grant_type = form.get("grant_type")
        if grant_type != "refresh_token":
            return bad_request(f"Unsupported grant_type {grant_type!r}: this sandbox refreshes")
        old = form.get("refresh_token", "")
        if old not in self.refresh:
            self.stats["refused_grants"] += 1
            return Outcome(refused_status, dict(INVALID_GRANT))
        if form.get("continuous_refresh", "").lower() != "true":
            self.stats["without_continuous_refresh"] += 1
        self.issued += 1
        self.stats["refreshes"] += 1
        access, new = self._mint("pina"), self._mint("pinr")
        self.refresh.discard(old)  # rotation: the old refresh token dies with this answer
        self.refresh.add(new)
        now = time.time()
        self.access[access] = now + access_ttl
        body = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": int(access_ttl),
            "scope": SCOPE,
            "response_type": "refresh_token",
            "refresh_token": new,
            "refresh_token_expires_in": REFRESH_TTL_SECONDS,
            "refresh_token_expires_at": int(now) + REFRESH_TTL_SECONDS,
        }
        return Outcome(200, body)


def _client_ok(authorization: str) -> bool:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return decoded == f"{CLIENT_ID}:{CLIENT_SECRET}"
