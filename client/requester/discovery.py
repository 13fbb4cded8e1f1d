"""Finding workers for a job: DHT capability records, checked on chain, ranked by quality.

``docs/protocol.md``, section 4, says where a worker is found and what the chain must
vouch for; the ranking is this requester's own policy (:mod:`.quality`).

1. :class:`~ccnet.client.net.dht.CapabilityDirectory` returns the verified, fresh records
   announcing the task type at the speed and price asked (one per worker).
2. :func:`check_onchain` keeps the workers the chain vouches for: registered
   (``Tasks.Workers``), with at least ``MinWorkerStake`` active stake
   (``Credits.Stakes``), not banned at the current block (``banned_until``). The
   record's signature already proves the announcer holds the account key.
3. :func:`rank_offers` scores each with the requester's
   :class:`~ccnet.client.requester.quality.QualityTracker` and sorts best first: by score, then
   cheaper, then faster, then address (deterministic). Each offer carries its
   reputation tier (:func:`~ccnet.client.requester.quality.tier_of` over the score and the chain's
   reputation, weighted by value earned and distinct paying requesters, not by the
   ``completed`` count), which picks the verification policy; equal scores are ordered
   by on-chain standing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..net.records import CapabilityRecord
from .quality import (
    TIER_POLICIES,
    QualityScore,
    QualityTracker,
    Reputation,
    Tier,
    TierPolicy,
    tier_of,
)

if TYPE_CHECKING:
    from .. import Chain, WorkerInfo
    from ..net.dht import CapabilityDirectory

__all__ = ["Candidate", "WorkerOffer", "check_onchain", "discover", "is_eligible", "rank_offers"]


@dataclass(frozen=True)
class Candidate:
    """A worker announced in the DHT and vouched for by the chain (not yet ranked)."""

    record: CapabilityRecord
    reputation: Reputation
    """The chain's reputation (counters, value earned, distinct paying requesters)."""
    stake: int
    """Active stake, planck."""


@dataclass(frozen=True)
class WorkerOffer:
    """A ranked worker: where to reach it, what it charges, how far it is trusted."""

    address: str
    """SS58 address (its on-chain account and signing key)."""
    endpoint: str
    """Signaling URL (``http://127.0.0.1:PORT/offer``)."""
    task_type: str
    price_planck_per_fuel: int
    """The worker's announced price, planck per fuel: the rate it is offered."""
    min_speed: int
    """Guaranteed speed, fuel per second."""
    stake: int
    """Active stake, planck."""
    reputation: Reputation
    score: QualityScore
    """The requester's Proof-of-Quality score of it, now."""
    tier: Tier
    record: CapabilityRecord

    @property
    def policy(self) -> TierPolicy:
        """The verification policy of its tier."""
        return TIER_POLICIES[self.tier]


def is_eligible(info: WorkerInfo | None, stake: int, *, min_stake: int, block: int) -> bool:
    """Whether the chain would let this worker claim a task now (registered, staked,
    not banned), as ``Tasks::is_eligible`` decides."""
    if info is None or stake < min_stake:
        return False
    return info.banned_until is None or block >= info.banned_until


def check_onchain(chain: Chain, records: Sequence[CapabilityRecord]) -> list[Candidate]:
    """The records whose worker is eligible on chain (synchronous: run in a thread)."""
    min_stake = chain.tasks.min_worker_stake()
    block = chain.block_number()
    kept = []
    for record in records:
        info = chain.tasks.worker(record.worker)
        stake = chain.credits.active_stake(record.worker) if info is not None else 0
        if is_eligible(info, stake, min_stake=min_stake, block=block):
            assert info is not None
            rep = info.reputation
            kept.append(
                Candidate(
                    record,
                    Reputation(
                        rep.completed,
                        rep.failed,
                        rep.disputed,
                        rep.slashed,
                        rep.value_earned,
                        rep.distinct_requesters,
                    ),
                    stake,
                )
            )
    return kept


async def discover(
    directory: CapabilityDirectory,
    chain: Chain,
    task_type: str,
    *,
    min_speed: int = 0,
    max_price: int | None = None,
) -> list[Candidate]:
    """DHT lookup (fresh, verified records matching the query) then the on-chain check.
    Raises :class:`~ccnet.client.net.exceptions.DhtError` when the DHT is down."""
    records = await directory.find(task_type, min_speed=min_speed, max_price=max_price)
    if not records:
        return []
    return await asyncio.to_thread(check_onchain, chain, records)


def rank_offers(
    candidates: Sequence[Candidate],
    tracker: QualityTracker,
    now_ms: int,
    *,
    excluded: Collection[str] = (),
) -> list[WorkerOffer]:
    """Score and sort *candidates* best first (see the module docs), leaving out the
    addresses in *excluded* (e.g. workers caught cheating)."""
    offers = []
    for c in candidates:
        if c.record.worker in excluded:
            continue
        score = tracker.score(c.record.worker, now_ms)
        offers.append(
            WorkerOffer(
                address=c.record.worker,
                endpoint=c.record.endpoint,
                task_type=c.record.task_type,
                price_planck_per_fuel=c.record.max_price_planck_per_fuel,
                min_speed=c.record.min_speed,
                stake=c.stake,
                reputation=c.reputation,
                score=score,
                tier=tier_of(score.total, c.reputation),
                record=c.record,
            )
        )
    return sorted(
        offers,
        key=lambda o: (
            -o.score.total,
            -o.reputation.standing,
            o.price_planck_per_fuel,
            -o.min_speed,
            o.address,
        ),
    )
