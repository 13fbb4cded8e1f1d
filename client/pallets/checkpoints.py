"""``chain.checkpoints``: anchor the hash of off-chain state stored on Arweave.

Errors raise :class:`~ccnet.client.exceptions.CheckpointsError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..codec import as_bytes, h256, to_bytes
from ..events import Receipt
from ._base import PalletApi

if TYPE_CHECKING:
    from substrateinterface import Keypair

    from ..chain import Wait

__all__ = ["CheckpointRecord", "Checkpoints", "JobCheckpointRecord", "JOB_ID_SIZE"]

JOB_ID_SIZE = 16
"""Bytes of a job id (the job protocol's ``job_id``), the second key of a job's record."""


@dataclass(frozen=True)
class CheckpointRecord:
    """One checkpoint of *owner*."""

    owner: str
    state_hash: str
    """0x hex H256."""
    arweave_tx_id: str
    """Arweave transaction id (text, 43 chars for a real one)."""
    size: int
    """Bytes."""
    block: int
    """Block it was recorded in."""

    @classmethod
    def from_value(cls, owner: str, value: Any) -> CheckpointRecord:
        return cls(
            owner=owner,
            state_hash=str(value["state_hash"]),
            arweave_tx_id=as_bytes(value["arweave_tx_id"]).decode(errors="replace"),
            size=int(value["size"]),
            block=int(value["block"]),
        )


@dataclass(frozen=True)
class JobCheckpointRecord:
    """The newest checkpoint of one job of *owner* (``JobCheckpoints``)."""

    job_id: bytes
    """16 bytes."""
    checkpoint: int
    """The image's sequence number within the job; only ever goes up."""
    record: CheckpointRecord
    """Its hash, Arweave tx id, size (bytes) and block."""
    deposit: int
    """Planck held on the owner while the record exists."""

    @classmethod
    def from_value(cls, owner: str, job_id: bytes, value: Any) -> JobCheckpointRecord:
        return cls(
            job_id=job_id,
            checkpoint=int(value["checkpoint"]),
            record=CheckpointRecord.from_value(owner, value["record"]),
            deposit=int(value["deposit"]),
        )


def _job_id(job_id: bytes) -> str:
    if len(job_id) != JOB_ID_SIZE:
        raise ValueError(f"a job id is {JOB_ID_SIZE} bytes, not {len(job_id)}")
    return "0x" + job_id.hex()


class Checkpoints(PalletApi):
    """Typed calls and reads of the Checkpoints pallet."""

    pallet = "Checkpoints"

    def record(
        self,
        keypair: Keypair,
        state_hash: bytes | str,
        arweave_tx_id: str | bytes,
        size: int,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """Record a checkpoint: the 32-byte hash of the state, its Arweave tx id
        (<= 64 bytes) and its size in bytes. Emits ``CheckpointRecorded``."""
        params = {
            "state_hash": h256(state_hash, "state_hash"),
            "arweave_tx_id": to_bytes(arweave_tx_id),
            "size": size,
        }
        return self._submit(keypair, "record", params, wait=wait)

    def clear(self, keypair: Keypair, *, wait: Wait | None = None) -> Receipt:
        """Remove the caller's checkpoints. Emits ``CheckpointsCleared``;
        ``NoCheckpoints`` if there are none."""
        return self._submit(keypair, "clear", wait=wait)

    def record_job(
        self,
        keypair: Keypair,
        job_id: bytes,
        checkpoint: int,
        state_hash: bytes | str,
        arweave_tx_id: str | bytes,
        size: int,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """Record checkpoint number *checkpoint* (u32, above the job's previous one) of
        the caller's job *job_id* (16 bytes): the 32-byte hash of the image, its
        Arweave tx id (<= 64 bytes) and its size in bytes. The job's first record holds
        ``JobRecordDeposit`` planck on the caller. Emits ``JobCheckpointRecorded``;
        ``StaleCheckpoint``, ``InsufficientBalance``, ``EmptyTxId``. ``ValueError``
        for a job id that is not 16 bytes."""
        params = {
            "job_id": _job_id(job_id),
            "checkpoint": checkpoint,
            "state_hash": h256(state_hash, "state_hash"),
            "arweave_tx_id": to_bytes(arweave_tx_id),
            "size": size,
        }
        return self._submit(keypair, "record_job", params, wait=wait)

    def clear_job(self, keypair: Keypair, job_id: bytes, *, wait: Wait | None = None) -> Receipt:
        """Forget the caller's record of *job_id* and release its deposit. Emits
        ``JobCheckpointCleared``; ``NoJobCheckpoint`` if there is none."""
        return self._submit(keypair, "clear_job", {"job_id": _job_id(job_id)}, wait=wait)

    def job_record(self, owner: str, job_id: bytes) -> JobCheckpointRecord | None:
        """The newest checkpoint *owner* recorded for its job *job_id*, or None."""
        value = self._query("JobCheckpoints", [owner, _job_id(job_id)])
        return None if value is None else JobCheckpointRecord.from_value(owner, job_id, value)

    def latest(self, owner: str) -> CheckpointRecord | None:
        """The newest checkpoint of *owner*, or None."""
        value = self._query("Latest", [owner])
        return None if value is None else CheckpointRecord.from_value(owner, value)

    def history(self, owner: str) -> list[CheckpointRecord]:
        """Up to the newest 32 checkpoints of *owner*, as stored (oldest first)."""
        return [
            CheckpointRecord.from_value(owner, v) for v in self._query("History", [owner]) or []
        ]
