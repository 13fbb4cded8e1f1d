"""The requester's on-chain path: post a task, wait for it to settle, dispute a result.

The slow path beside the off-chain fast path of :mod:`.runs`: a task whose results must
be judgeable on chain carries a :class:`~ccnet.client.jobs.jobspec.JobSpec` in its
``input_ref`` (task type ``b"wasm"``), so verifiers can re-run it. The court
(``pallets/tasks`` and ``pallets/disputes`` crate docs): workers commit, then reveal
their result hashes; after ``deadline + RevealPeriod + ChallengeWindow`` blocks with no
dispute open, anyone finalizes and the strict majority of the revealed hashes is paid.
The requester cannot pick a minority result: to overturn one it challenges it.

:class:`OnchainRequests` wraps the typed pallet calls of :class:`ccnet.client.Chain`
(synchronous, run in threads) and keeps every :class:`~ccnet.client.Receipt` for the
summary:

- :meth:`~OnchainRequests.post`, :meth:`~OnchainRequests.wait_results` (revealed
  results), :meth:`~OnchainRequests.decide` (the majority the chain will pay),
  :meth:`~OnchainRequests.wait_settled` (finalizes when due if no worker did);
- :meth:`~OnchainRequests.challenge` with the result the requester expects: a fresh
  salt, the opening kept durably in :class:`~ccnet.client.courtsecrets.CourtSecrets`
  (``<state dir>/court-secrets.json``) before the challenge leaves, the
  :func:`~ccnet.client.commitments.expected_commitment` on chain;
  :meth:`~OnchainRequests.wait_dispute` reveals it in the reveal phase, resolves once
  due, and returns the ``Disputes.DisputeResolved`` outcome.

It knows nothing of scores: :class:`~ccnet.client.requester.Requester` updates them from
the :class:`~ccnet.client.requester.outcomes.DisputeOutcome`. Waits count blocks: on a
dev chain something must build them (:class:`ccnet.client.BlockTicker`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..codec import h256
from ..commitments import expected_commitment, new_salt
from ..courtsecrets import CourtSecrets, ExpectedOpening
from ..exceptions import DisputesError, TasksError
from ..jobs.jobspec import TASK_TYPE, JobSpec
from ..pallets._base import variant
from ..pallets.tasks import Assignment, TaskInfo
from .exceptions import DisputeTimeoutError, OnchainTimeoutError
from .outcomes import DisputeOutcome
from .verdicts import HashMajority, hash_majority

if TYPE_CHECKING:
    from .. import Chain, ChainEvent, Keypair, Receipt

__all__ = ["DEFAULT_DEADLINE_BLOCKS", "DEFAULT_OUTPUT_SPEC", "OnchainRequests", "dispute_outcome"]

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_SPEC = b"blake2b-256 of stdout"
"""``output_spec`` of posted tasks: free text saying what ``result_hash`` is."""
DEFAULT_DEADLINE_BLOCKS = 30
"""Blocks from posting to the deadline (claims and commitments), by default."""


def dispute_outcome(event: ChainEvent) -> DisputeOutcome:
    """A :class:`DisputeOutcome` from a decoded ``Disputes.DisputeResolved`` event."""
    attrs = event.attributes
    verdict, _ = variant(attrs["verdict"])
    rewards = []
    for item in attrs.get("rewards") or ():
        pair = list(item.values()) if isinstance(item, dict) else list(item)
        rewards.append((str(pair[0]), int(pair[1])))
    return DisputeOutcome(
        dispute_id=int(attrs["dispute_id"]),
        task_id=int(attrs["task_id"]),
        worker=str(attrs["worker"]),
        verdict=verdict,
        slashed=int(attrs["slashed"]),
        rewarded=tuple(v for v, _ in rewards),
        block_number=event.block_number,
        rewards=tuple(rewards),
        to_winner=int(attrs.get("to_winner") or 0),
    )


class OnchainRequests:
    """Tasks and disputes of one requester account (*keypair*) on *chain*; the openings
    of its expected-result commitments go to *state_dir* ``/court-secrets.json``.

    Every extrinsic's receipt is appended to :attr:`receipts`. Waits poll every
    *poll_interval* seconds.
    """

    def __init__(
        self,
        chain: Chain,
        keypair: Keypair,
        *,
        state_dir: Path | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        self.chain = chain
        self.keypair = keypair
        self.address = str(keypair.ss58_address)
        self.poll_interval = poll_interval
        self.receipts: list[Receipt] = []
        self.secrets = CourtSecrets(
            (state_dir if state_dir is not None else Path(".state/requester"))
            / "court-secrets.json"
        )
        self._opened_at: dict[int, int] = {}

    async def _submit(self, fn: Any, *args: Any) -> Receipt:
        receipt: Receipt = await asyncio.to_thread(fn, self.keypair, *args)
        self.receipts.append(receipt)
        return receipt

    async def _head(self) -> int:
        return int(await asyncio.to_thread(self.chain.block_number))

    # -- tasks ---------------------------------------------------------------------------

    async def post(
        self,
        spec: JobSpec,
        *,
        bounty: int,
        redundancy: int = 1,
        deadline_blocks: int = DEFAULT_DEADLINE_BLOCKS,
        output_spec: bytes = DEFAULT_OUTPUT_SPEC,
    ) -> int:
        """Post *spec* as a ``wasm`` task holding *bounty* planck (and the
        ``TaskDeposit``), claimable and committable by *redundancy* workers (1..7) until
        *deadline_blocks* blocks from now. Returns the task id. Raises
        :class:`ccnet.client.TasksError`."""
        head = await self._head()
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

    async def task(self, task_id: int) -> TaskInfo | None:
        return await asyncio.to_thread(self.chain.tasks.task, task_id)

    async def results(self, task_id: int) -> list[Assignment]:
        """Every claim of *task_id*, its commitment and its revealed result, if any."""
        return await asyncio.to_thread(self.chain.tasks.assignments, task_id)

    async def wait_results(
        self,
        task_id: int,
        count: int,
        *,
        timeout: float = 120.0,
        poll_interval: float | None = None,
    ) -> list[Assignment]:
        """Wait until *count* workers revealed a result for *task_id*; returns the claims.
        Raises :class:`OnchainTimeoutError` (also when the task settles first)."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.results(task_id)
            revealed = sum(1 for a in found if a.revealed)
            if revealed >= count:
                return found
            task = await self.task(task_id)
            if task is None or task.status != "Open":
                raise OnchainTimeoutError(
                    f"task {task_id} settled ({task.status if task else 'reaped'}) with "
                    f"{revealed} of {count} results"
                )
            if time.monotonic() > deadline:
                raise OnchainTimeoutError(
                    f"task {task_id}: {revealed} of {count} results revealed after {timeout:g} s"
                )
            await asyncio.sleep(poll_interval or self.poll_interval)

    async def decide(self, task_id: int, *, quorum: int | None = None) -> HashMajority:
        """The majority over the results revealed for *task_id* so far."""
        claims = await self.results(task_id)
        return hash_majority({a.worker: a.result_hash for a in claims}, quorum=quorum)

    async def accept(self, task_id: int, worker: str) -> Receipt:
        """Pay early a task whose every slot revealed one and the same result (*worker*
        names one). Raises :class:`ccnet.client.TasksError` (``NotUnanimous``: wait for
        :meth:`wait_settled`)."""
        return await self._submit(self.chain.tasks.accept, task_id, worker)

    async def finalize(self, task_id: int) -> Receipt:
        """Finalize *task_id* (anyone may, once its challenge window is over). Raises
        :class:`ccnet.client.TasksError` (``WindowOpen``, ``DisputeOpen``...)."""
        return await self._submit(self.chain.tasks.finalize, task_id)

    async def wait_settled(
        self, task_id: int, *, timeout: float = 300.0, finalize_when_due: bool = True
    ) -> TaskInfo:
        """Wait until *task_id* is paid or refunded and return its final record
        (``Completed`` with the majority ``result_hash``, ``NoMajority`` or
        ``Expired``). With *finalize_when_due*, finalize it once the challenge window is
        over with no dispute open (workers usually do it first). Raises
        :class:`OnchainTimeoutError`."""
        times = await asyncio.to_thread(self.chain.tasks.times)
        deadline = time.monotonic() + timeout
        while True:
            task = await self.task(task_id)
            if task is None:
                raise OnchainTimeoutError(f"task {task_id} is gone (reaped, or never posted)")
            if task.status != "Open":
                return task
            head = await self._head()
            due = head + 1 > times.challenge_ends(task) and task.open_disputes == 0
            if finalize_when_due and due:
                try:
                    await self.finalize(task_id)
                except TasksError as err:  # finalized by a worker meanwhile
                    logger.info("finalizing task %d: %s", task_id, err)
                continue
            if time.monotonic() > deadline:
                raise OnchainTimeoutError(
                    f"task {task_id} still open after {timeout:g} s (block {head}, challenges "
                    f"until {times.challenge_ends(task)}, {task.open_disputes} open disputes)"
                )
            await asyncio.sleep(self.poll_interval)

    # -- disputes ------------------------------------------------------------------------

    async def challenge(
        self, task_id: int, worker: str, expected_hash: bytes | str | None = None
    ) -> int:
        """Dispute *worker*'s revealed result of *task_id*, staking ``ChallengeStake``
        (``OutsiderChallengeStake`` for a stranger to the task); returns the dispute id.

        *expected_hash* (32 bytes: the result the requester expects, e.g. the majority's)
        is committed with a fresh salt kept durably first; :meth:`wait_dispute` reveals
        it. Raises :class:`ccnet.client.DisputesError` (``NotDisputable``,
        ``NoVerifiers``, ``InsufficientBalance``...)."""
        commitment = None
        opening = None
        if expected_hash is not None:
            raw = bytes.fromhex(h256(expected_hash, "expected_hash")[2:])
            opening = ExpectedOpening(task_id, worker, raw, new_salt())
            commitment = expected_commitment(task_id, worker, opening.expected_hash, opening.salt)
            await asyncio.to_thread(self.secrets.put_expected, opening)
        receipt = await self._submit(self.chain.disputes.challenge, task_id, worker, commitment)
        dispute_id = self.chain.disputes.opened_dispute_id(receipt)
        if opening is not None:
            await asyncio.to_thread(
                self.secrets.put_expected,
                ExpectedOpening(
                    opening.task_id, worker, opening.expected_hash, opening.salt, dispute_id
                ),
            )
        block = await self._head()
        self._opened_at[dispute_id] = block
        return dispute_id

    async def reveal_expected(self, dispute_id: int) -> Receipt | None:
        """Reveal the expected result kept for *dispute_id* (None when none was kept).
        Raises :class:`ccnet.client.DisputesError` outside the reveal phase."""
        opening = await asyncio.to_thread(self.secrets.expected_for_dispute, dispute_id)
        if opening is None:
            return None
        return await self._submit(
            self.chain.disputes.reveal_expected,
            dispute_id,
            opening.expected_hash,
            opening.salt,
            opening.auditor_salt,
        )

    async def resolve(self, dispute_id: int) -> Receipt:
        """Resolve *dispute_id* after its reveal phase (anyone may)."""
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
        poll_interval: float | None = None,
        resolve_when_due: bool = True,
        from_block: int | None = None,
    ) -> DisputeOutcome:
        """Wait for ``DisputeResolved`` of *dispute_id* (the last reveal resolves it at
        once). Reveals this requester's expected result when the reveal phase opens; with
        *resolve_when_due*, resolves it once its reveal phase is over.

        Events are scanned from *from_block* (default: the block the dispute was opened
        in, when this object opened it; else 64 blocks back). Raises
        :class:`DisputeTimeoutError`.
        """
        first = from_block if from_block is not None else self._opened_at.get(dispute_id)
        if first is None:
            first = max(0, await self._head() - 64)
        start: int = first
        deadline = time.monotonic() + timeout
        while True:
            found, start = await asyncio.to_thread(self._scan, dispute_id, start)
            if found is not None:
                await asyncio.to_thread(self.secrets.drop_expected, found.task_id, found.worker)
                return found
            info = await asyncio.to_thread(self.chain.disputes.dispute, dispute_id)
            if info is not None:
                head = await self._head()
                ours = info.challenger == self.address
                if ours and info.expected is not None and info.expected_hash is None:
                    if info.reveal_open(head):
                        try:
                            await self.reveal_expected(dispute_id)
                        except DisputesError as err:
                            logger.warning("dispute %d: reveal_expected: %s", dispute_id, err)
                        continue
                if resolve_when_due and info.reveal_ends is not None:
                    if head + 1 > info.reveal_ends:
                        try:
                            await self.resolve(dispute_id)
                        except DisputesError as err:  # someone else resolved it meanwhile
                            logger.info("resolving dispute %d: %s", dispute_id, err)
                        continue
            if time.monotonic() > deadline:
                raise DisputeTimeoutError(dispute_id, timeout)
            await asyncio.sleep(poll_interval or self.poll_interval)
