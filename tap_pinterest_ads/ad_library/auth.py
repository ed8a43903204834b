"""Authenticators, one per API family."""

from __future__ import annotations

from singer_sdk.authenticators import APIKeyAuthenticator


def ad_library_auth(api_key: str) -> APIKeyAuthenticator:
    # Header only: the API's `?api_key=` fallback would put the key into URLs and logs.
    return APIKeyAuthenticator(key="X-API-Key", value=api_key, location="header")
