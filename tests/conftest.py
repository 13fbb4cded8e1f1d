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
    "fixtures.localnet",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration/ and tests/adversarial/ (they need the dev
    chain) as ``integration``."""
    needs_chain = [REPO_ROOT / "tests" / "integration", REPO_ROOT / "tests" / "adversarial"]
    for item in items:
        if any(item.path.is_relative_to(folder) for folder in needs_chain):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout the tests run from."""
    return REPO_ROOT
