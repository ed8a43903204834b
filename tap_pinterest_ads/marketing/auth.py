"""OAuth for the v5 family: one authenticator per run, shared by every v5 stream, because each
refresh returns a new refresh token and kills the one it was made from."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

import backoff
import requests
from singer_sdk.authenticators import OAuthAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_pinterest_ads import redaction
from tap_pinterest_ads.client import json_body
from tap_pinterest_ads.marketing.settings import V5Settings
from tap_pinterest_ads.marketing.tokens import Grant, TokenStore
from tap_pinterest_ads.resources import ApiResources
from tap_pinterest_ads.retries import (
    MAX_TRIES,
    RETRIABLE,
    ApiUnavailableError,
    give_up_message,
    wait_generator,
)
from tap_pinterest_ads.session import OriginBoundSession

REFUSED_GRANT = 283
TOKEN_TIMEOUT = 60
logger = logging.getLogger("tap-pinterest-ads")


class RefusedGrantError(FatalAPIError):
    """Pinterest refused the refresh token: only re-authorising the app helps."""


class TokenRefreshError(FatalAPIError):
    """The token endpoint refused for another reason; the message says which."""


def error_fields(response: requests.Response) -> tuple[Any, str]:
    """Pinterest's error body `{code, message}`; (None, text) when it is not one."""
    body = json_body(response)
    if isinstance(body, dict) and ("code" in body or "message" in body):
        return body.get("code"), str(body.get("message") or "")
    return None, response.text[:200].strip()


class PinterestOAuth(OAuthAuthenticator):
    """One per run, shared by the streams. Partitions are read from several threads: one
    refresh at a time, so no two of them spend the same refresh token (the second would find
    it dead)."""

    def __init__(self, settings: V5Settings, resources: ApiResources) -> None:
        super().__init__(
            auth_endpoint=f"{settings.api_url}/oauth/token",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
        )
        self.resources = resources
        self.store = TokenStore(settings.token_store_path, settings.refresh_token)
        self.grant: Grant | None = self.store.grant()
        # Basic credentials must not follow a redirect to another host either.
        self._session = OriginBoundSession(resources)
        self._renewing = False
        self._lock = threading.Lock()
        self.tries = 0
        if settings.access_token:
            self.access_token = settings.access_token
            self.last_refreshed = dt.datetime.now(dt.timezone.utc)
        redaction.install(
            s for s in (self.grant and self.grant.refresh_token, settings.access_token) if s
        )

    @property
    def can_refresh(self) -> bool:
        return bool(self.grant and self.client_id and self.client_secret)

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            return super().authenticate_request(request)

    def renewed_since(self, response: requests.Response) -> bool:
        """A 401 to a token that another request's refusal has renewed, or is renewing: the
        retry carries the new one, and this refusal says nothing about it."""
        sent = response.request.headers.get("Authorization") if response.request else None
        with self._lock:
            pending = self.last_refreshed is None
            return self.can_refresh and (pending or sent != f"Bearer {self.access_token}")

    def renew_refused(self) -> bool:
        """The API refused the access token (expired, revoked): refresh before the retry,
        unless the token refused is the one a refresh for an earlier refusal just gave."""
        if not self.can_refresh or self._renewing:
            return False
        self._renewing = True
        self.last_refreshed = None  # the next request refreshes first
        return True

    def confirm(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """requests' response hook: an accepted token ends a renewal."""
        if response.ok:
            self._renewing = False

    @property
    def oauth_request_body(self) -> dict[str, Any]:
        assert self.grant is not None
        return {
            "grant_type": "refresh_token",
            "refresh_token": self.grant.refresh_token,
            # Apps made before 2025-09-25 get a rotating, never-ending token only when asked.
            "continuous_refresh": "true",
        }

    def update_access_token(self) -> None:
        if not self.can_refresh:
            raise TokenRefreshError(
                "The v5 access token was refused and there is no `refresh_token` (with "
                "`client_id` and `client_secret`) to get a new one: set them, then rerun."
            )
        self.store.check_writable()
        requested = dt.datetime.now(dt.timezone.utc)
        body = self._post_with_retries()
        self.access_token = str(body["access_token"])
        redaction.install([self.access_token])
        self.expires_in = int(body["expires_in"]) if body.get("expires_in") else None
        self.last_refreshed = requested
        new = body.get("refresh_token")
        if new and self.grant is not None and new != self.grant.refresh_token:
            redaction.install([str(new)])
            try:
                self.store.save(str(new))
            except OSError as error:
                raise TokenRefreshError(
                    f"Pinterest rotated the v5 refresh token, but {self.store.path} "
                    f"(`token_store_path`) could not be written ({error.strerror or error}), so "
                    "the new token is lost and the old one is dead: free the store, re-authorise "
                    "the app and put the new token in `refresh_token`."
                ) from None
            self.grant = Grant(str(new), self.store.source)
            if self.store.path is None:
                logger.warning(
                    "Pinterest rotated the v5 refresh token, and without `token_store_path` the "
                    "new one lives only for this run: the next run may be refused (code 283). "
                    "Set `token_store_path` to keep it."
                )

    def _post_with_retries(self) -> dict[str, Any]:
        post = backoff.on_exception(
            wait_generator, RETRIABLE, max_tries=MAX_TRIES, jitter=None, logger=None
        )(self._post)
        started, tries_before = time.monotonic(), self.tries
        try:
            return post()
        except RETRIABLE as error:  # the same one line as the streams' give-up
            raise ApiUnavailableError(
                give_up_message(
                    error,
                    api=self.resources.label,
                    url=self.resources.base_url,
                    setting=self.resources.url_setting,
                    tries=self.tries - tries_before,
                    seconds=time.monotonic() - started,
                    timeout=TOKEN_TIMEOUT,
                )
            ) from None

    def _post(self) -> dict[str, Any]:
        self.resources.pacer.wait()
        self.tries += 1
        response = self._session.post(
            self.auth_endpoint,
            data=self.oauth_request_body,
            auth=(str(self.client_id), str(self.client_secret)),
            timeout=TOKEN_TIMEOUT,
        )
        self.resources.budget.spend()
        if response.status_code == 429 or response.status_code >= 500:
            raise RetriableAPIError(f"{response.status_code} from /oauth/token", response)
        body = json_body(response)
        if response.ok and isinstance(body, dict) and body.get("access_token"):
            return body
        code, message = error_fields(response)
        assert self.grant is not None
        if code == REFUSED_GRANT:
            raise RefusedGrantError(
                f"Pinterest refused the v5 refresh token from {self.grant.source} (code "
                f"{code}: {message}). It was revoked, expired, or already used by another run. "
                "Re-authorise the app to get a new refresh token, put it in `refresh_token`, "
                "and rerun (the tap prefers a changed `refresh_token` over its token store)."
            )
        raise TokenRefreshError(
            f"{response.status_code} from {self.auth_endpoint.split('//', 1)[-1]} refreshing the "
            f"v5 token (code {code}: {message}). Check `client_id` and `client_secret` (the "
            "app's id and secret at developers.pinterest.com/apps)."
        )
