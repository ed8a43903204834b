"""The requests session of one API: the key goes only to the configured origin.

requests follows redirects anywhere and, when one leaves the host, strips only `Authorization`
(`Session.rebuild_auth`): an `X-API-Key` header would travel on to whatever host the redirect
names. A redirect within the origin (scheme, host, port) is followed; one that leaves it stops
the run with a clear error, before anything is sent there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.utils import resolve_proxies
from singer_sdk.exceptions import FatalAPIError

if TYPE_CHECKING:
    from tap_pinterest_ads.resources import ApiResources

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
    def __init__(self, resources: ApiResources) -> None:
        super().__init__()
        self.resources = resources
        self._proxies: dict[tuple[str, str, int | None], dict[str, str]] = {}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        # requests resolves the proxy environment on every send (each `*_proxy` variable, by a
        # walk over os.environ: a fifth of a v5 sync's CPU). The environment does not change
        # within a run, so it is resolved once per origin, with requests' own rules.
        if "proxies" not in kwargs:
            key = origin(str(request.url))
            if key not in self._proxies:
                self._proxies[key] = resolve_proxies(request, dict(self.proxies), self.trust_env)
            kwargs["proxies"] = dict(self._proxies[key])
        return super().send(request, **kwargs)

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        # requests' hook for each redirect hop, called before the hop is sent.
        target, api = str(prepared_request.url), self.resources
        if origin(target) != origin(api.base_url):
            raise CrossOriginRedirectError(
                f"The {api.label} at {api.base_url} (`{api.url_setting}`) answered "
                f"{response.status_code} with a redirect to {origin_text(target)}, another "
                f"origin: the tap sends credentials only to the origin of `{api.url_setting}`, "
                f"so it stopped there. If the API has moved, set `{api.url_setting}` to its new "
                "address."
            )
        super().rebuild_auth(prepared_request, response)
