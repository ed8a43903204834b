"""The requests session of one API: the key goes only to the configured origin.

requests follows redirects anywhere and, when one leaves the host, strips only `Authorization`
(`Session.rebuild_auth`): an `X-API-Key` header would travel on to whatever host the redirect
names. A redirect within the origin (scheme, host, port) is followed; one that leaves it stops
the run with a clear error, before anything is sent there.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError

_DEFAULT_PORTS = {"http": 80, "https": 443}


class CrossOriginRedirectError(FatalAPIError):
    """The API redirected to another origin; the message says what to check."""


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def origin_text(url: str) -> str:
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"


class OriginBoundSession(requests.Session):
    def __init__(self, base_url: str, label: str) -> None:
        super().__init__()
        self.base_url = base_url
        self.label = label

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        # requests' hook for each redirect hop, called before the hop is sent.
        target = str(prepared_request.url)
        if origin(target) != origin(self.base_url):
            raise CrossOriginRedirectError(
                f"The {self.label} at {self.base_url} (`api_url`) answered {response.status_code} "
                f"with a redirect to {origin_text(target)}, another origin: the tap sends the key "
                "only to the origin of `api_url`, so it stopped there. If the API has moved, "
                "set `api_url` to its new address."
            )
        super().rebuild_auth(prepared_request, response)
