"""``chain.tasks``: the worker registry and the task market.

Workers stake ``MinWorkerStake`` first (``chain.credits.stake``), then register with
capabilities (byte strings, e.g. ``b"wasm"``) and an endpoint. Requesters post tasks with
a bounty (planck) and a deadline (block number). Errors raise
:class:`~ccnet.client.exceptions.TasksError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..codec import as_bytes, bounded, h256, to_bytes
from ..events import Receipt
from ._base import PalletApi, variant

if TYPE_CHECKING:
    from substrateinterface import Keypair

    from ..chain import Wait

__all__ = ["Assignment", "Reputation", "TaskInfo", "Tasks", "WorkerInfo"]


@dataclass(frozen=True)
class Reputation:
    completed: int
    failed: int
    disputed: int
    slashed: int


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

    @classmethod
    def from_value(cls, address: str, value: Any) -> WorkerInfo:
        rep = value["reputation"]
        banned = value.get("banned_until")
        return cls(
            address=address,
            capabilities=tuple(as_bytes(c) for c in value["capabilities"]),
            endpoint=as_bytes(value["endpoint"]),
            registered_at=int(value["registered_at"]),
            reputation=Reputation(
                int(rep["completed"]), int(rep["failed"]), int(rep["disputed"]), int(rep["slashed"])
            ),
            active_claims=int(value["active_claims"]),
            banned_until=None if banned is None else int(banned),
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
    """``"Open"``, ``"Completed"`` or ``"Expired"``."""
    result_hash: str | None
    """0x hex H256 of the accepted result when ``Completed``."""

    @classmethod
    def from_value(cls, task_id: int, value: Any) -> TaskInfo:
        status, fields = variant(value["status"])
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
        )


@dataclass(frozen=True)
class Assignment:
    """``Tasks.Assignments(task_id, worker)``: a claim and its result."""

    task_id: int
    worker: str
    result_hash: str | None
    """0x hex H256, None until a result is submitted."""
    fuel_used: int | None
    disputed: bool

    @classmethod
    def from_value(cls, task_id: int, worker: str, value: Any) -> Assignment:
        result = value.get("result")
        result_hash, fuel = (None, None) if result is None else (str(result[0]), int(result[1]))
        return cls(task_id, worker, result_hash, fuel, bool(value["disputed"]))


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
        wait: Wait = "inclusion",
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
        wait: Wait = "inclusion",
    ) -> Receipt:
        """Replace the caller's capabilities and endpoint. Emits ``WorkerUpdated``."""
        params = {"capabilities": _capabilities(capabilities), "endpoint": to_bytes(endpoint)}
        return self._submit(keypair, "update_worker", params, wait=wait)

    def deregister_worker(self, keypair: Keypair, *, wait: Wait = "inclusion") -> Receipt:
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
        wait: Wait = "inclusion",
    ) -> Receipt:
        """Post a task, holding *bounty* planck until the deadline (block number).
        *input_ref* <= 4096 bytes; *redundancy* 1..7. Emits ``TaskPosted{task_id}``
        (see :meth:`posted_task_id`)."""
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
        wait: Wait = "inclusion",
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

    def claim(self, keypair: Keypair, task_id: int, *, wait: Wait = "inclusion") -> Receipt:
        """Claim an open task as a registered worker. Emits ``TaskClaimed``."""
        return self._submit(keypair, "claim", {"task_id": task_id}, wait=wait)

    def submit_result(
        self,
        keypair: Keypair,
        task_id: int,
        result_hash: bytes | str,
        fuel_used: int,
        *,
        wait: Wait = "inclusion",
    ) -> Receipt:
        """Submit the hash (32 bytes) of a claimed task's result and the fuel it used.
        Emits ``ResultSubmitted``."""
        params = {
            "task_id": task_id,
            "result_hash": h256(result_hash, "result_hash"),
            "fuel_used": fuel_used,
        }
        return self._submit(keypair, "submit_result", params, wait=wait)

    def accept(
        self, keypair: Keypair, task_id: int, worker: str, *, wait: Wait = "inclusion"
    ) -> Receipt:
        """As the requester, accept *worker*'s result; pays the bounty. Emits
        ``TaskCompleted``."""
        return self._submit(keypair, "accept", {"task_id": task_id, "worker": worker}, wait=wait)

    def expire(self, keypair: Keypair, task_id: int, *, wait: Wait = "inclusion") -> Receipt:
        """Expire a task past its deadline (anyone). Emits ``TaskExpired``."""
        return self._submit(keypair, "expire", {"task_id": task_id}, wait=wait)

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

    def next_task_id(self) -> int:
        """The id the next posted task gets."""
        return int(self._query("NextTaskId") or 0)

    def min_worker_stake(self) -> int:
        """Stake a worker needs, planck."""
        return int(self.constant("MinWorkerStake"))
