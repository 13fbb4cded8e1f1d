"""``chain.tasks``: the worker registry and the task market (commit, reveal, finalize).

Workers stake ``MinWorkerStake`` first (``chain.credits.stake``), then register with
capabilities (byte strings, e.g. ``b"wasm"``) and an endpoint. Requesters post tasks with
a bounty (planck, plus the ``TaskDeposit`` storage deposit) and a deadline (block
number). The life of a task (``pallets/tasks`` crate docs):

1. ``claim`` (bonds ``ClaimBond`` of the worker's free stake), then ``submit_result`` of a
   commitment (:func:`ccnet.client.commitments.result_commitment`) by the deadline;
2. ``reveal_result(hash, fuel, salt)`` after the deadline, or as soon as every slot is
   claimed and committed, until ``deadline + RevealPeriod`` (:attr:`TaskInfo.reveal_open`);
3. ``finalize`` (anyone) after ``reveal_ends + ChallengeWindow`` with no open dispute:
   the strict majority of the revealed hashes is paid, no majority is refunded, claims
   never revealed lose ``NoRevealSlash`` to the requester; ``accept`` (requester) is an
   early finalize of a unanimous, fully revealed task; ``expire`` refunds a task with no
   reveal; ``reap`` removes a finished record ``TaskRetention`` blocks later.

Errors raise :class:`~ccnet.client.exceptions.TasksError` (phase errors as
:class:`~ccnet.client.exceptions.CourtTooEarlyError` /
:class:`~ccnet.client.exceptions.CourtTooLateError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..codec import as_bytes, bounded, fixed_hex, h256, to_bytes
from ..events import Receipt
from ._base import PalletApi, variant

if TYPE_CHECKING:
    from substrateinterface import Keypair

    from ..chain import Wait

__all__ = ["Assignment", "Reputation", "TaskInfo", "TaskTimes", "Tasks", "WorkerInfo"]


@dataclass(frozen=True)
class Reputation:
    """A worker's history counters (``Reputation`` in ``pallets/tasks/src/types.rs``)."""

    completed: int
    """Results paid as (part of) the majority."""
    failed: int
    """Results outvoted, never revealed, lost disputes, or bad votes as a verifier."""
    disputed: int
    """Results under dispute now."""
    slashed: int
    """Disputes lost."""
    value_earned: int = 0
    """Planck earned from paid results."""
    distinct_requesters: int = 0
    """Distinct requesters that paid it a share of at least ``MinReputableShare``."""

    @classmethod
    def from_value(cls, rep: Any) -> Reputation:
        return cls(
            int(rep["completed"]),
            int(rep["failed"]),
            int(rep["disputed"]),
            int(rep["slashed"]),
            int(rep.get("value_earned", 0)),
            int(rep.get("distinct_requesters", 0)),
        )


@dataclass(frozen=True)
class WorkerInfo:
    """``Tasks.Workers(address)``."""

    address: str
    capabilities: tuple[bytes, ...]
    endpoint: bytes
    registered_at: int
    """Block number."""
    reputation: Reputation
    active_claims: int
    banned_until: int | None
    """Block number until which the worker is banned, None if never banned."""
    deposit: int = 0
    """``WorkerDeposit`` held for the record until ``deregister_worker``, planck."""

    @classmethod
    def from_value(cls, address: str, value: Any) -> WorkerInfo:
        rep = value["reputation"]
        banned = value.get("banned_until")
        return cls(
            address=address,
            capabilities=tuple(as_bytes(c) for c in value["capabilities"]),
            endpoint=as_bytes(value["endpoint"]),
            registered_at=int(value["registered_at"]),
            reputation=Reputation.from_value(rep),
            active_claims=int(value["active_claims"]),
            banned_until=None if banned is None else int(banned),
            deposit=int(value.get("deposit", 0)),
        )


@dataclass(frozen=True)
class TaskInfo:
    """``Tasks.Tasks(task_id)``."""

    task_id: int
    requester: str
    task_type: bytes
    input_ref: bytes
    output_spec: bytes
    bounty: int
    """Planck."""
    deadline: int
    """Block number."""
    redundancy: int
    claims: int
    open_disputes: int
    status: str
    """``"Open"``, ``"Completed"``, ``"Expired"`` or ``"NoMajority"``."""
    result_hash: str | None
    """0x hex H256 of the paid majority result when ``Completed``."""
    commits: int = 0
    """Claims with a commitment."""
    reveals: int = 0
    """Claims with a revealed result."""
    deposit: int = 0
    """Storage deposit held on the requester until ``reap``, planck."""
    finished_at: int | None = None
    """Block at which it was paid or refunded."""
    reopened_until: int | None = None
    """Set when a dispute over one of its results ended without a verdict: challenges
    are taken again until this block."""

    @property
    def all_committed(self) -> bool:
        """Every slot claimed and committed (reveals may start before the deadline)."""
        return self.claims == self.redundancy and self.commits == self.claims

    def reveal_open(self, head: int, times: TaskTimes) -> bool:
        """Whether ``reveal_result`` is allowed in the block after *head*."""
        nxt = head + 1
        return (nxt > self.deadline or self.all_committed) and nxt <= times.reveal_ends(self)

    @classmethod
    def from_value(cls, task_id: int, value: Any) -> TaskInfo:
        status, fields = variant(value["status"])
        finished = value.get("finished_at")
        reopened = value.get("reopened_until")
        return cls(
            task_id=task_id,
            requester=str(value["requester"]),
            task_type=as_bytes(value["task_type"]),
            input_ref=as_bytes(value["input_ref"]),
            output_spec=as_bytes(value["output_spec"]),
            bounty=int(value["bounty"]),
            deadline=int(value["deadline"]),
            redundancy=int(value["redundancy"]),
            claims=int(value["claims"]),
            open_disputes=int(value["open_disputes"]),
            status=status,
            result_hash=str(fields["result_hash"]) if isinstance(fields, dict) else None,
            commits=int(value.get("commits", 0)),
            reveals=int(value.get("reveals", 0)),
            deposit=int(value.get("deposit", 0)),
            finished_at=None if finished is None else int(finished),
            reopened_until=None if reopened is None else int(reopened),
        )


@dataclass(frozen=True)
class TaskTimes:
    """The phase lengths of the runtime (blocks), from its constants."""

    reveal_period: int
    """``RevealPeriod``: blocks after the deadline during which results are revealed."""
    challenge_window: int
    """``ChallengeWindow``: blocks after the reveal period for challenges."""
    retention: int
    """``TaskRetention``: blocks a finished task stays before ``reap``."""

    def reveal_ends(self, task: TaskInfo) -> int:
        """Last block of *task*'s reveal period."""
        return task.deadline + self.reveal_period

    def challenge_ends(self, task: TaskInfo) -> int:
        """Last block at which *task*'s results may be challenged (``challenge_window``
        after the reveals, or until ``reopened_until`` after a dispute without a
        verdict); ``finalize`` works from the block after it."""
        return max(self.reveal_ends(task) + self.challenge_window, task.reopened_until or 0)

    def reapable_after(self, task: TaskInfo) -> int | None:
        """``reap`` works in blocks after this one (None while the task is open)."""
        return None if task.finished_at is None else task.finished_at + self.retention


@dataclass(frozen=True)
class Assignment:
    """``Tasks.Assignments(task_id, worker)``: a claim, its commitment, its result."""

    task_id: int
    worker: str
    result_hash: str | None
    """0x hex H256, None until the result is revealed."""
    fuel_used: int | None
    disputed: bool
    commitment: str | None = None
    """0x hex H256 of the result commitment, None until committed."""
    judged: bool = False
    """A dispute over this result ended: it is never disputed again."""

    @property
    def committed(self) -> bool:
        return self.commitment is not None

    @property
    def revealed(self) -> bool:
        return self.result_hash is not None

    @classmethod
    def from_value(cls, task_id: int, worker: str, value: Any) -> Assignment:
        result = value.get("result")
        result_hash, fuel = (None, None) if result is None else (str(result[0]), int(result[1]))
        commitment = value.get("commitment")
        return cls(
            task_id,
            worker,
            result_hash,
            fuel,
            bool(value["disputed"]),
            None if commitment is None else str(commitment),
            bool(value.get("judged", False)),
        )


def _capabilities(capabilities: Sequence[bytes | str]) -> list[list[bytes]]:
    if isinstance(capabilities, bytes | str):
        raise TypeError("capabilities is a sequence of byte strings, e.g. [b'wasm']")
    return bounded([to_bytes(c) for c in capabilities])


class Tasks(PalletApi):
    """Typed calls and reads of the Tasks pallet."""

    pallet = "Tasks"

    # -- calls -------------------------------------------------------------------------

    def register_worker(
        self,
        keypair: Keypair,
        capabilities: Sequence[bytes | str],
        endpoint: bytes | str,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """Register the caller as a worker. Needs ``MinWorkerStake`` active stake.
        Emits ``WorkerRegistered``."""
        params = {"capabilities": _capabilities(capabilities), "endpoint": to_bytes(endpoint)}
        return self._submit(keypair, "register_worker", params, wait=wait)

    def update_worker(
        self,
        keypair: Keypair,
        capabilities: Sequence[bytes | str],
        endpoint: bytes | str,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """Replace the caller's capabilities and endpoint. Emits ``WorkerUpdated``."""
        params = {"capabilities": _capabilities(capabilities), "endpoint": to_bytes(endpoint)}
        return self._submit(keypair, "update_worker", params, wait=wait)

    def deregister_worker(self, keypair: Keypair, *, wait: Wait | None = None) -> Receipt:
        """Leave the registry (no unsettled claims). Emits ``WorkerDeregistered``."""
        return self._submit(keypair, "deregister_worker", wait=wait)

    def post_task(
        self,
        keypair: Keypair,
        task_type: bytes | str,
        input_ref: bytes | str,
        output_spec: bytes | str,
        bounty: int,
        deadline: int,
        redundancy: int = 1,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """Post a task, holding *bounty* planck and the ``TaskDeposit`` until it is
        finalized (resp. reaped); claims and commitments are taken until *deadline*
        (block number). *input_ref* <= 4096 bytes; *redundancy* 1..7. Emits
        ``TaskPosted{task_id}`` (see :meth:`posted_task_id`)."""
        params = {
            "task_type": to_bytes(task_type),
            "input_ref": to_bytes(input_ref),
            "output_spec": to_bytes(output_spec),
            "bounty": bounty,
            "deadline": deadline,
            "redundancy": redundancy,
        }
        return self._submit(keypair, "post_task", params, wait=wait)

    def post(
        self,
        keypair: Keypair,
        task_type: bytes | str,
        input_ref: bytes | str,
        output_spec: bytes | str,
        bounty: int,
        deadline: int,
        redundancy: int = 1,
        *,
        wait: Wait | None = None,
    ) -> int:
        """:meth:`post_task`, returning the new task id."""
        receipt = self.post_task(
            keypair, task_type, input_ref, output_spec, bounty, deadline, redundancy, wait=wait
        )
        return self.posted_task_id(receipt)

    @staticmethod
    def posted_task_id(receipt: Receipt) -> int:
        """The task id of the ``TaskPosted`` event in *receipt*."""
        return int(receipt.expect("Tasks", "TaskPosted").attributes["task_id"])

    def claim(self, keypair: Keypair, task_id: int, *, wait: Wait | None = None) -> Receipt:
        """Claim an open task as a registered worker, bonding ``ClaimBond`` of its free
        stake. Emits ``TaskClaimed``; ``InsufficientStake`` without enough free stake."""
        return self._submit(keypair, "claim", {"task_id": task_id}, wait=wait)

    def submit_result(
        self,
        keypair: Keypair,
        task_id: int,
        commitment: bytes | str,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """Commit (by the deadline) to the result of a claimed task: *commitment* is
        :func:`ccnet.client.commitments.result_commitment` (32 bytes). Keep the salt
        durably before calling (:class:`ccnet.client.courtsecrets.CourtSecrets`).
        Emits ``ResultCommitted``."""
        params = {"task_id": task_id, "commitment": h256(commitment, "commitment")}
        return self._submit(keypair, "submit_result", params, wait=wait)

    def reveal_result(
        self,
        keypair: Keypair,
        task_id: int,
        result_hash: bytes | str,
        fuel_used: int,
        salt: bytes | str,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """Open the caller's commitment: the result hash (32 bytes), the fuel used and
        the salt (32 bytes). Allowed after the deadline, or once every slot is committed,
        until ``deadline + RevealPeriod``. Emits ``ResultSubmitted``; ``BadReveal`` when
        it does not match the commitment."""
        params = {
            "task_id": task_id,
            "result_hash": h256(result_hash, "result_hash"),
            "fuel_used": fuel_used,
            "salt": fixed_hex(salt, 32, "salt"),
        }
        return self._submit(keypair, "reveal_result", params, wait=wait)

    def accept(
        self, keypair: Keypair, task_id: int, worker: str, *, wait: Wait | None = None
    ) -> Receipt:
        """As the requester, pay early a task whose every slot is revealed with one and
        the same result (*worker* names one of them). Emits ``TaskCompleted``;
        ``NotUnanimous`` otherwise (wait for :meth:`finalize`)."""
        return self._submit(keypair, "accept", {"task_id": task_id, "worker": worker}, wait=wait)

    def finalize(self, keypair: Keypair, task_id: int, *, wait: Wait | None = None) -> Receipt:
        """Pay the strict majority of the revealed results (or refund), anyone, after
        the challenge window with no open dispute. Emits ``TaskCompleted``,
        ``TaskUnresolved`` or ``TaskExpired``, and ``ClaimForfeited`` per claim never
        revealed; ``WindowOpen`` / ``DisputeOpen`` when it is not due."""
        return self._submit(keypair, "finalize", {"task_id": task_id}, wait=wait)

    def expire(self, keypair: Keypair, task_id: int, *, wait: Wait | None = None) -> Receipt:
        """Refund a task nobody revealed a result for, after its reveal period (anyone).
        Emits ``TaskExpired``."""
        return self._submit(keypair, "expire", {"task_id": task_id}, wait=wait)

    def cancel(self, keypair: Keypair, task_id: int, *, wait: Wait | None = None) -> Receipt:
        """As the requester, withdraw a task nobody has claimed: the bounty and the
        ``TaskDeposit`` are released at once and the record removed. Emits
        ``TaskCancelled`` (``task_id``, ``bounty``, ``deposit`` in planck);
        ``TaskHasClaims`` once a worker claimed it, ``NotRequester`` for anyone else."""
        return self._submit(keypair, "cancel_task", {"task_id": task_id}, wait=wait)

    def reap(self, keypair: Keypair, task_id: int, *, wait: Wait | None = None) -> Receipt:
        """Remove a finished task ``TaskRetention`` blocks after it finished; the
        ``TaskDeposit`` goes back to the requester (anyone). Emits ``TaskReaped``."""
        return self._submit(keypair, "reap", {"task_id": task_id}, wait=wait)

    # -- reads -------------------------------------------------------------------------

    def worker(self, address: str) -> WorkerInfo | None:
        """The registration of *address*, or None."""
        value = self._query("Workers", [address])
        return None if value is None else WorkerInfo.from_value(address, value)

    def worker_list(self) -> list[str]:
        """Addresses of the registered workers (``WorkerList``), in registry order."""
        return [str(a) for a in self._query("WorkerList") or []]

    def workers(self) -> list[WorkerInfo]:
        """Every registered worker."""
        return sorted(
            (WorkerInfo.from_value(str(k), v) for k, v in self._query_map("Workers")),
            key=lambda w: (w.registered_at, w.address),
        )

    def task(self, task_id: int) -> TaskInfo | None:
        """Task *task_id*, or None."""
        value = self._query("Tasks", [task_id])
        return None if value is None else TaskInfo.from_value(task_id, value)

    def tasks(self) -> list[TaskInfo]:
        """Every task in storage, by id."""
        found = (TaskInfo.from_value(int(k), v) for k, v in self._query_map("Tasks"))
        return sorted(found, key=lambda t: t.task_id)

    def assignment(self, task_id: int, worker: str) -> Assignment | None:
        """*worker*'s claim of *task_id*, or None."""
        value = self._query("Assignments", [task_id, worker])
        return None if value is None else Assignment.from_value(task_id, worker, value)

    def assignments(self, task_id: int) -> list[Assignment]:
        """Every claim of *task_id*."""
        return [
            Assignment.from_value(task_id, str(k), v)
            for k, v in self._query_map("Assignments", [task_id])
        ]

    def claims_of(self, worker: str) -> list[Assignment]:
        """Every open claim of *worker* (settling a task removes its claims), by task
        id: what its bonded stake backs. Reads the whole ``Assignments`` map: O(claims
        of every worker)."""
        found = (
            Assignment.from_value(int(key[0]), worker, value)
            for key, value in self._query_map("Assignments")
            if str(key[1]) == worker
        )
        return sorted(found, key=lambda a: a.task_id)

    def next_task_id(self) -> int:
        """The id the next posted task gets."""
        return int(self._query("NextTaskId") or 0)

    def min_worker_stake(self) -> int:
        """Active stake a worker needs to register, planck."""
        return int(self.constant("MinWorkerStake"))

    def claim_bond(self) -> int:
        """Free stake each claim bonds until it is settled, planck."""
        return int(self.constant("ClaimBond"))

    def times(self) -> TaskTimes:
        """The runtime's phase lengths (``RevealPeriod``, ``ChallengeWindow``,
        ``TaskRetention``), blocks."""
        return TaskTimes(
            int(self.constant("RevealPeriod")),
            int(self.constant("ChallengeWindow")),
            int(self.constant("TaskRetention")),
        )

    def paid_by(self, worker: str) -> list[str]:
        """Requesters that paid *worker* a reputable share (``PaidBy``)."""
        return [str(k) for k, _ in self._query_map("PaidBy", [worker])]
