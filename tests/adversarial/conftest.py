"""Fixtures of the adversarial suite (the dev chain, funded parties and the ledger come
from tests/fixtures): ``make_adversary()`` is a fresh funded malicious party
(:class:`~.adversary.Adversary`) on the session dev chain."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ccnet.channels.testing import Ledger, Members
from ccnet.client import Chain

from .adversary import Adversary


@pytest.fixture
def make_adversary(
    ccnet_chain: Chain, make_member: Members, ledger: Ledger
) -> Callable[[], Adversary]:
    """``make_adversary()``: a malicious party with a fresh funded account (1000 CC)."""
    return lambda: Adversary(make_member(), ccnet_chain, ledger)
