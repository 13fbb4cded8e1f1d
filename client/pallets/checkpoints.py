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

__all__ = ["CheckpointRecord", "Checkpoints"]


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

    def latest(self, owner: str) -> CheckpointRecord | None:
        """The newest checkpoint of *owner*, or None."""
        value = self._query("Latest", [owner])
        return None if value is None else CheckpointRecord.from_value(owner, value)

    def history(self, owner: str) -> list[CheckpointRecord]:
        """Up to the newest 32 checkpoints of *owner*, as stored (oldest first)."""
        return [
            CheckpointRecord.from_value(owner, v) for v in self._query("History", [owner]) or []
        ]
