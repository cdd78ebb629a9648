"""Shared fixtures. Fixtures that need a server skip when it is absent, except under
GOVCONNECT_REQUIRE_SERVICES=1 (CI), where an absent server fails the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _cookiecutter_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep cookiecutter's replay files and clones out of the home folder while tests render."""
    home = tmp_path_factory.mktemp("cookiecutter")
    config = home / "config.yaml"
    config.write_text(f"replay_dir: {home / 'replay'}\ncookiecutters_dir: {home / 'clones'}\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COOKIECUTTER_CONFIG", str(config))
        yield


@pytest.fixture(params=["sqlite", "postgresql"])
def outbox_at(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """Where a fresh outbox lives, on each engine in turn: a file, or a PostgreSQL URL with a
    schema of its own, dropped afterwards (for tests of state kept in the outbox's store: the
    intake journal, the publishing state)."""
    from pathlib import Path

    from tests.outbox_support import outbox_location

    assert isinstance(tmp_path, Path)
    with outbox_location(request.param, tmp_path) as location:
        yield location
