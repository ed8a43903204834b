"""Start the sandbox as its own process and drive its control routes (tests, demo, benchmarks)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

_READY = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


class SandboxProcess:
    """`tap-pinterest-ads-sandbox` in a child process on a free loopback port."""

    def __init__(
        self,
        *,
        seed: int = 42,
        ads: int | None = None,
        quirks: dict[str, Any] | None = None,
        v5_quirks: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self.args = [sys.executable, "-m", "tap_pinterest_ads.sandbox.server", "--port", "0"]
        self.args += ["--seed", str(seed)]
        if ads is not None:
            self.args += ["--ads", str(ads)]
        for name, value in options.items():
            self.args += [f"--{name.replace('_', '-')}", str(value)]
        for name, value in (quirks or {}).items():
            self.args += ["--quirk", f"{name}={json.dumps(value)}"]
        for name, value in (v5_quirks or {}).items():
            self.args += ["--v5-quirk", f"{name}={json.dumps(value)}"]
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> SandboxProcess:
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = _READY.search(line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"sandbox did not start: {line!r}")
        self.url = match.group(1)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def _call(self, method: str, route: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.url}/_sandbox/{route}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        self._call("POST", "reset")

    def advance(self, days: int = 0, hours: int = 0) -> dict[str, Any]:
        return dict(self._call("POST", "advance", json={"days": days, "hours": hours}))

    def state(self) -> dict[str, Any]:
        return dict(self._call("GET", "state"))

    def truth(self, **filters: Any) -> list[str]:
        return list(self._call("GET", "truth", params=filters)["ids"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "requests")["requests"])

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def add_faults(self, *faults: dict[str, Any]) -> None:
        self._call("POST", "faults", json={"faults": list(faults)})

    def configure(self, **settings: Any) -> None:
        self._call("POST", "config", json=settings)

    def expire_scrolls(self) -> None:
        self._call("POST", "expire-scrolls")

    def quirks(self, **switches: Any) -> dict[str, Any]:
        """Set quirk switches (none: just read them); returns every switch's current value."""
        if switches:
            return dict(self._call("POST", "quirks", json=switches))
        return dict(self._call("GET", "quirks"))

    def hostile(self, kind: str, count: int = 1) -> list[str | None]:
        """Add `count` new ads with one defect each; their ids (None for id-less rows)."""
        return list(self._call("POST", "hostile", json={"kind": kind, "count": count})["added"])

    def idless(self, **filters: Any) -> int:
        """How many rows matching the filters have no id (hostile null_id/missing_id rows)."""
        return int(self._call("GET", "truth", params=filters)["idless"])

    # -- v5 family -------------------------------------------------------------------------
    @property
    def v5_url(self) -> str:
        """What a tap's `v5_api_url` should be."""
        return f"{self.url}/v5"

    def v5_state(self) -> dict[str, Any]:
        """Ad account ids (all, owned, forbidden, without catalogs), counts per entity, the
        changes advances made, the rate limit and token lifetime."""
        return dict(self._call("GET", "v5/state"))

    def v5_truth(self, entity: str, **filters: Any) -> list[dict[str, Any]]:
        """Every row of a tap stream a complete read gives, in id order, as served. `entity` is
        the stream name; filters: ad_account_id (default: every readable account) and, for
        campaigns/ad_groups/ads, entity_statuses (default: all five)."""
        return list(self._call("GET", f"v5/truth/{entity}", params=filters)["items"])

    def v5_tokens(self) -> dict[str, Any]:
        """Live refresh tokens, live access token count, refreshes, refused grants (code 283),
        bad client credentials and refreshes sent without continuous_refresh=true."""
        return dict(self._call("GET", "v5/tokens"))

    def v5_expire_tokens(self) -> int:
        """Expire every access token now; returns how many were live."""
        return int(self._call("POST", "v5/expire-tokens")["expired"])

    def v5_revoke_tokens(self) -> None:
        """Kill every refresh token, as when the user revokes the app."""
        self._call("POST", "v5/revoke-tokens")

    def v5_requests(self) -> list[dict[str, Any]]:
        """The v5 request log (never a token: token_id is a hash; form field names only)."""
        return list(self._call("GET", "v5/requests")["requests"])

    def v5_clear_requests(self) -> None:
        self._call("DELETE", "v5/requests")

    def v5_configure(self, **settings: Any) -> dict[str, Any]:
        """Set rate_limit_per_minute and/or token_ttl_seconds; returns both."""
        return dict(self._call("POST", "v5/config", json=settings))

    def v5_quirks(self, **switches: Any) -> dict[str, Any]:
        """Set v5 quirk switches (none: just read them); returns every v5 switch's value."""
        if switches:
            return dict(self._call("POST", "v5/quirks", json=switches))
        return dict(self._call("GET", "v5/quirks"))


class CaptureServer:
    """A stand-in foreign host for redirect tests: records what reached it, never values.

    Each request is answered 200 `{"data": [], "scroll": null}` and recorded as its method,
    path (without the query), header names, query parameter names and whether it carried an
    `X-API-Key` or `Authorization` header or an `api_key` parameter.
    """

    def __init__(self, host: str = "127.0.0.2", port: int = 0) -> None:
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                names = sorted({name.lower() for name in self.headers})
                query = sorted(parse_qs(parts.query, keep_blank_values=True))
                capture._add(
                    {
                        "method": self.command,
                        "path": parts.path,
                        "header_names": names,
                        "query_names": query,
                        "key_header": bool({"x-api-key", "authorization"} & set(names)),
                        "key_in_query": "api_key" in query,
                    }
                )
                body = b'{"data": [], "scroll": null}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815  (http.server names)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # quiet: a request line may hold a key

        return Handler

    def _add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(record)

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
