"""Meltano fixtures; test modules load them with `pytest_plugins = ["tests.conftest_meltano"]`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.meltano_harness import Meltano


@pytest.fixture(scope="session")
def meltano(tmp_path_factory: pytest.TempPathFactory) -> Meltano:
    return Meltano(tmp_path_factory.mktemp("meltano"))


@pytest.fixture(scope="session")
def installed(meltano: Meltano) -> Callable[..., Meltano]:
    """`installed("target-postgres")`: install (or upgrade) each plugin once per session."""
    done: set[str] = set()

    def install(*plugins: str) -> Meltano:
        missing = [name for name in ("tap-pinterest-ads", *plugins) if name not in done]
        if missing:
            meltano.install(*missing)
            done.update(missing)
        return meltano

    return install
