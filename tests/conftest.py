"""Shared pytest setup: the repository root and the ``integration`` marker."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = [
    "fixtures.devchain",
    "fixtures.channels",
    "fixtures.arlocal",
    "fixtures.client",
    "fixtures.net",
    "fixtures.zk",
    "fixtures.worker",
    "fixtures.daemon",
    "fixtures.requester",
    "fixtures.bridge",
    "fixtures.postgres",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration/ as ``integration``."""
    integration = REPO_ROOT / "tests" / "integration"
    for item in items:
        if item.path.is_relative_to(integration):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout the tests run from."""
    return REPO_ROOT
