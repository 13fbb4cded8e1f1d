"""The requester's on-chain path: post a task, read its results, accept, dispute.

The requester challenges a wrong result on chain, the selected verifiers re-execute and
vote, the cheater is slashed, and the SDK sees the outcome. The slow path beside the
off-chain fast path of :mod:`.runs`: a task
whose results must be judgeable on chain carries a :class:`~ccnet.client.jobs.jobspec.JobSpec`
in its ``input_ref`` (task type ``b"wasm"``), so verifiers can re-run it.

:class:`OnchainRequests` wraps the typed pallet calls of :class:`ccnet.client.Chain`
(synchronous, run in threads), keeps every :class:`~ccnet.client.Receipt` for the
summary, and waits for ``Disputes.DisputeResolved`` by scanning new blocks' events.
It knows nothing of scores: :class:`~ccnet.client.requester.Requester` updates them
from the :class:`~ccnet.client.requester.outcomes.DisputeOutcome`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..exceptions import DisputesError
from ..jobs.jobspec import TASK_TYPE, JobSpec
from ..pallets._base import variant
from ..pallets.tasks import Assignment
from .exceptions import DisputeTimeoutError, OnchainTimeoutError
from .outcomes import DisputeOutcome
from .verdicts import HashMajority, hash_majority

if TYPE_CHECKING:
    from .. import Chain, ChainEvent, Keypair, Receipt

__all__ = ["DEFAULT_OUTPUT_SPEC", "OnchainRequests", "dispute_outcome"]

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_SPEC = b"blake2b-256 of stdout"
"""``output_spec`` of posted tasks: free text saying what ``result_hash`` is."""


def dispute_outcome(event: ChainEvent) -> DisputeOutcome:
    """A :class:`DisputeOutcome` from a decoded ``Disputes.DisputeResolved`` event."""
    attrs = event.attributes
    verdict, _ = variant(attrs["verdict"])
    return DisputeOutcome(
        dispute_id=int(attrs["dispute_id"]),
        task_id=int(attrs["task_id"]),
        worker=str(attrs["worker"]),
        verdict=verdict,
        slashed=int(attrs["slashed"]),
        rewarded=tuple(str(v) for v in attrs.get("rewarded") or ()),
        block_number=event.block_number,
    )


class OnchainRequests:
    """Tasks and disputes of one requester account (*keypair*) on *chain*.

    Every extrinsic's receipt is appended to :attr:`receipts`.
    """

    def __init__(self, chain: Chain, keypair: Keypair) -> None:
        self.chain = chain
        self.keypair = keypair
        self.receipts: list[Receipt] = []
        self._opened_at: dict[int, int] = {}

    async def _submit(self, fn: Any, *args: Any) -> Receipt:
        receipt: Receipt = await asyncio.to_thread(fn, self.keypair, *args)
        self.receipts.append(receipt)
        return receipt

    async def post(
        self,
        spec: JobSpec,
        *,
        bounty: int,
        redundancy: int = 1,
        deadline_blocks: int = 100,
        output_spec: bytes = DEFAULT_OUTPUT_SPEC,
    ) -> int:
        """Post *spec* as a ``wasm`` task holding *bounty* planck, claimable by
        *redundancy* workers (1..7) until *deadline_blocks* blocks from now. Returns the
        task id. Raises :class:`ccnet.client.TasksError`."""
        head = await asyncio.to_thread(self.chain.block_number)
        receipt = await self._submit(
            self.chain.tasks.post_task,
            TASK_TYPE,
            spec.encode(),
            output_spec,
            bounty,
            head + deadline_blocks,
            redundancy,
        )
        return self.chain.tasks.posted_task_id(receipt)

    async def results(self, task_id: int) -> list[Assignment]:
        """Every claim of *task_id* and its submitted result (hash, fuel), if any."""
        return await asyncio.to_thread(self.chain.tasks.assignments, task_id)

    async def wait_results(
        self, task_id: int, count: int, *, timeout: float = 120.0, poll_interval: float = 0.5
    ) -> list[Assignment]:
        """Wait until *count* workers submitted a result for *task_id*; returns the
        claims. Raises :class:`OnchainTimeoutError`."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.results(task_id)
            if sum(1 for a in found if a.result_hash is not None) >= count:
                return found
            if time.monotonic() > deadline:
                raise OnchainTimeoutError(
                    f"task {task_id}: {sum(a.result_hash is not None for a in found)} of "
                    f"{count} results after {timeout:g} s"
                )
            await asyncio.sleep(poll_interval)

    async def decide(self, task_id: int, *, quorum: int | None = None) -> HashMajority:
        """The majority over the results submitted for *task_id* so far."""
        claims = await self.results(task_id)
        return hash_majority({a.worker: a.result_hash for a in claims}, quorum=quorum)

    async def accept(self, task_id: int, worker: str) -> Receipt:
        """Accept *worker*'s result: the bounty is shared by every worker that submitted
        the same hash (``TaskCompleted``). Raises :class:`ccnet.client.TasksError`."""
        return await self._submit(self.chain.tasks.accept, task_id, worker)

    async def challenge(self, task_id: int, worker: str) -> int:
        """Stake ``ChallengeStake`` and dispute *worker*'s submitted (not yet accepted)
        result of *task_id*; returns the dispute id. Raises
        :class:`ccnet.client.DisputesError` (``NoResult``, ``AlreadyDisputed``,
        ``NoVerifiers``...)."""
        receipt = await self._submit(self.chain.disputes.challenge, task_id, worker)
        dispute_id = self.chain.disputes.opened_dispute_id(receipt)
        block = await asyncio.to_thread(self.chain.block_number)
        self._opened_at[dispute_id] = block
        return dispute_id

    async def resolve(self, dispute_id: int) -> Receipt:
        """Resolve *dispute_id* after its voting period (anyone may)."""
        return await self._submit(self.chain.disputes.resolve, dispute_id)

    def _scan(self, dispute_id: int, first: int) -> tuple[DisputeOutcome | None, int]:
        """Look for the resolution in blocks *first*..head; returns it (or None) and the
        next block to scan."""
        head = self.chain.block_number()
        for number in range(first, head + 1):
            block_hash = self.chain.block_hash(number)
            for event in self.chain.events_at(block_hash, block_number=number):
                if (event.pallet, event.name) != ("Disputes", "DisputeResolved"):
                    continue
                if int(event.attributes["dispute_id"]) == dispute_id:
                    return dispute_outcome(event), number + 1
        return None, head + 1

    async def wait_dispute(
        self,
        dispute_id: int,
        *,
        timeout: float = 300.0,
        poll_interval: float = 0.5,
        resolve_when_due: bool = True,
        from_block: int | None = None,
    ) -> DisputeOutcome:
        """Wait for ``DisputeResolved`` of *dispute_id* (the last verifier's vote
        resolves it at once). With *resolve_when_due*, once the voting period is over
        and the dispute is still open, submit ``resolve`` (the votes cast decide).

        Events are scanned from *from_block* (default: the block the dispute was opened
        in, when this object opened it; else 64 blocks back). Raises
        :class:`DisputeTimeoutError`.
        """
        first = from_block if from_block is not None else self._opened_at.get(dispute_id)
        if first is None:
            head = await asyncio.to_thread(self.chain.block_number)
            first = max(0, head - 64)
        start: int = first
        deadline = time.monotonic() + timeout
        while True:
            found, start = await asyncio.to_thread(self._scan, dispute_id, start)
            if found is not None:
                return found
            if resolve_when_due:
                info = await asyncio.to_thread(self.chain.disputes.dispute, dispute_id)
                head = await asyncio.to_thread(self.chain.block_number)
                if info is not None and head > info.voting_ends:
                    try:
                        await self.resolve(dispute_id)
                    except DisputesError as err:  # someone else resolved it meanwhile
                        logger.info("resolving dispute %d: %s", dispute_id, err)
                    continue
            if time.monotonic() > deadline:
                raise DisputeTimeoutError(dispute_id, timeout)
            await asyncio.sleep(poll_interval)
