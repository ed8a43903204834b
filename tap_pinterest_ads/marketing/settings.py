"""The v5 settings (Meltano Hub's tap-pinterest uses the same credential names) and their
checks beyond what the JSON schema expresses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from singer_sdk import typing as th

from tap_pinterest_ads.config_checks import check_api_url, invalid_setting

DEFAULT_V5_API_URL = "https://api.pinterest.com/v5"
ENTITY_STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "DRAFT", "DELETED_DRAFT")
CREDENTIALS = ("client_id", "client_secret", "refresh_token", "access_token")
_ACCOUNT_ID = re.compile(r"^\d{1,18}$")

V5_PROPERTIES = (
    th.Property(
        "client_id",
        th.StringType,
        secret=True,
        description="Pinterest app id (developers.pinterest.com/apps). With `client_secret` and "
        "`refresh_token` it turns on the v5 streams.",
    ),
    th.Property("client_secret", th.StringType, secret=True, description="Pinterest app secret."),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        description="The first refresh token of the app's OAuth grant. Pinterest rotates it on "
        "every refresh: set `token_store_path` so the new one survives the run.",
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        description="Optional access token used until it expires (then the refresh token is).",
    ),
    th.Property(
        "v5_api_url",
        th.StringType,
        default=DEFAULT_V5_API_URL,
        description="Pinterest API v5 base; tokens come from {v5_api_url}/oauth/token. https "
        "only, except a loopback host (the sandbox serves it under /v5).",
    ),
    th.Property(
        "ad_account_ids",
        th.ArrayType(th.StringType),
        description="Only these ad accounts (ids as strings). Default: every account the token "
        "can read.",
    ),
    th.Property(
        "token_store_path",
        th.StringType,
        description="File where the tap keeps the rotated refresh token (written atomically, "
        "mode 0600) and reads it first on the next run.",
    ),
    th.Property(
        "entity_statuses",
        th.ArrayType(th.StringType),
        default=list(ENTITY_STATUSES),
        description="Statuses of campaigns, ad groups and ads to read. The API's own default is "
        "ACTIVE and PAUSED only, which hides archived and draft objects.",
    ),
)


@dataclass(frozen=True)
class V5Settings:
    api_url: str
    client_id: str | None
    client_secret: str | None
    refresh_token: str | None
    access_token: str | None
    token_store_path: Path | None
    ad_account_ids: tuple[str, ...]
    entity_statuses: tuple[str, ...]


def configured(config: Mapping[str, Any]) -> bool:
    """Whether the user meant to run the v5 family at all."""
    return any(config.get(name) for name in CREDENTIALS)


def parse_v5_settings(config: Mapping[str, Any]) -> V5Settings:
    store = config.get("token_store_path")
    can_refresh = all(config.get(n) for n in ("client_id", "client_secret"))
    has_grant = config.get("refresh_token") or (store and Path(store).is_file())
    if not config.get("access_token") and not (can_refresh and has_grant):
        missing = [n for n in ("client_id", "client_secret") if not config.get(n)]
        raise invalid_setting(
            missing[0] if missing else "refresh_token",
            "the v5 streams need `client_id`, `client_secret` and `refresh_token` (or a token "
            "in `token_store_path`), or an `access_token`",
        )
    accounts = tuple(str(i).strip() for i in config.get("ad_account_ids") or ())
    for index, account in enumerate(accounts):
        if not _ACCOUNT_ID.match(account):
            raise invalid_setting(
                f"ad_account_ids[{index}]", f"{account!r} is not an ad account id (digits)"
            )
    statuses = tuple(str(s).upper() for s in config.get("entity_statuses") or ENTITY_STATUSES)
    for index, status in enumerate(statuses):
        if status not in ENTITY_STATUSES:
            allowed = ", ".join(ENTITY_STATUSES)
            problem = f"{status!r} is not one of {allowed}"
            raise invalid_setting(f"entity_statuses[{index}]", problem)
    return V5Settings(
        api_url=check_api_url("v5_api_url", str(config.get("v5_api_url") or DEFAULT_V5_API_URL)),
        client_id=config.get("client_id"),
        client_secret=config.get("client_secret"),
        refresh_token=config.get("refresh_token"),
        access_token=config.get("access_token"),
        token_store_path=Path(store).expanduser() if store else None,
        ad_account_ids=tuple(dict.fromkeys(accounts)),
        entity_statuses=statuses,
    )
