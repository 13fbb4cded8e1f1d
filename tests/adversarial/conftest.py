"""Fixtures of the adversarial suite (the dev chain, funded parties and the ledger come
from tests/fixtures):

- ``make_adversary()`` is a fresh funded malicious party (:class:`~.adversary.Adversary`)
  on the session dev chain.
- ``court_chain``: a private Chopsticks chain (same development spec) for the court
  attacks, per module, whose blocks are built only on request (``Manual`` mode): a
  verifier draw takes every registered worker into account, so these tests cannot share
  the registry of the session chain. Yields the chain and the hash of its first block.
- ``court``: a :class:`~.court.Court` on ``court_chain`` rewound to that first block
  (``dev_setHead``), so each test starts from an empty registry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ccnet.channels.testing import Ledger, Members
from ccnet.client import Chain
from ccnet.client.devchain import DEFAULT_SPEC, DevChain, free_port

from .adversary import Adversary
from .court import Court


@pytest.fixture
def make_adversary(
    ccnet_chain: Chain, make_member: Members, ledger: Ledger
) -> Callable[[], Adversary]:
    """``make_adversary()``: a malicious party with a fresh funded account (1000 CC)."""
    return lambda: Adversary(make_member(), ccnet_chain, ledger)


@pytest.fixture(scope="module")
def court_chain(
    repo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Chain, str]]:
    spec = Path(os.environ.get("CCNET_CHAIN_SPEC", repo_root / DEFAULT_SPEC))
    if not spec.is_file():
        pytest.fail(f"raw chain spec {spec} is missing; `make setup` builds it", pytrace=False)
    dev = DevChain(
        root=repo_root, spec=spec, state_dir=tmp_path_factory.mktemp("court"), port=free_port()
    )
    info = dev.start()
    try:
        with Chain(info.url) as chain:
            chain.rpc("dev_setBlockBuildMode", ["Manual"])
            yield chain, chain.block_hash()
    finally:
        assert dev.stop(), "the court's dev chain died during the tests"


@pytest.fixture
def court(court_chain: tuple[Chain, str]) -> Court:
    chain, start = court_chain
    chain.rpc("dev_setHead", [start])
    return Court(chain)
