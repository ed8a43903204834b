"""Start the sandbox as its own process and drive its control routes (tests, demo, benchmarks)."""

from __future__ import annotations

import re
import subprocess
import sys
from types import TracebackType
from typing import Any

import requests

_READY = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


class SandboxProcess:
    """`tap-pinterest-ads-sandbox` in a child process on a free loopback port."""

    def __init__(self, *, seed: int = 42, ads: int | None = None, **options: Any) -> None:
        self.args = [sys.executable, "-m", "tap_pinterest_ads.sandbox.server", "--port", "0"]
        self.args += ["--seed", str(seed)]
        if ads is not None:
            self.args += ["--ads", str(ads)]
        for name, value in options.items():
            self.args += [f"--{name.replace('_', '-')}", str(value)]
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
