"""The ``devchain`` fixture: a Chopsticks dev chain for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccnet.client.devchain import DEFAULT_SPEC, DevChain, free_port, group_alive


@pytest.fixture(scope="session")
def devchain(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start Chopsticks from the development raw spec on a free loopback port, yield its
    ws:// URL, and stop it (and every process it started) after the session.

    A missing spec fails the tests, unless CCNET_ALLOW_SKIP=1 makes it a skip.
    """
    spec = Path(os.environ.get("CCNET_CHAIN_SPEC", repo_root / DEFAULT_SPEC))
    if not spec.is_file():
        reason = f"raw chain spec {spec} is missing; `make setup` builds it"
        if os.environ.get("CCNET_ALLOW_SKIP") == "1":
            pytest.skip(reason)
        pytest.fail(f"{reason} (CCNET_ALLOW_SKIP=1 skips instead)", pytrace=False)
    chain = DevChain(
        root=repo_root,
        spec=spec,
        state_dir=tmp_path_factory.mktemp("devchain"),
        port=free_port(),
    )
    info = chain.start()
    try:
        yield info.url
    finally:
        assert chain.stop(), "the dev chain died during the tests"
        assert chain.status() is None
        assert not group_alive(info.pid), f"processes of group {info.pid} outlived stop()"
