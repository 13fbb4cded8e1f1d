"""``chain.disputes``: challenge a submitted result, vote as a selected verifier, resolve.

A challenge holds ``ChallengeStake`` (planck) and selects up to ``VerifierCount``
verifiers among registered workers; they vote within ``VotingPeriod`` blocks. Errors raise
:class:`~ccnet.client.exceptions.DisputesError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..codec import h256
from ..events import Receipt
from ._base import PalletApi

if TYPE_CHECKING:
    from substrateinterface import Keypair

    from ..chain import Wait

__all__ = ["DisputeInfo", "Disputes"]


def _votes(raw: Any) -> tuple[tuple[str, str], ...]:
    votes: list[tuple[str, str]] = []
    for item in raw or []:
        if isinstance(item, dict):
            votes.append(
                (
                    str(item.get("verifier", item.get("0"))),
                    str(item.get("result_hash", item.get("1"))),
                )
            )
        else:
            votes.append((str(item[0]), str(item[1])))
    return tuple(votes)


@dataclass(frozen=True)
class DisputeInfo:
    """``Disputes.Disputes(dispute_id)``: an open dispute."""

    dispute_id: int
    task_id: int
    worker: str
    challenger: str
    stake: int
    """Planck held from the challenger."""
    claimed_hash: str
    """0x hex H256 the worker submitted."""
    verifiers: tuple[str, ...]
    votes: tuple[tuple[str, str], ...]
    """(verifier, result hash) pairs so far."""
    voting_ends: int
    """Block number."""

    @classmethod
    def from_value(cls, dispute_id: int, value: Any) -> DisputeInfo:
        return cls(
            dispute_id=dispute_id,
            task_id=int(value["task_id"]),
            worker=str(value["worker"]),
            challenger=str(value["challenger"]),
            stake=int(value["stake"]),
            claimed_hash=str(value["claimed_hash"]),
            verifiers=tuple(str(v) for v in value["verifiers"]),
            votes=_votes(value.get("votes")),
            voting_ends=int(value["voting_ends"]),
        )


class Disputes(PalletApi):
    """Typed calls and reads of the Disputes pallet."""

    pallet = "Disputes"

    def challenge(
        self, keypair: Keypair, task_id: int, worker: str, *, wait: Wait = "inclusion"
    ) -> Receipt:
        """Dispute *worker*'s submitted result for *task_id*. Emits
        ``DisputeOpened{dispute_id, verifiers, voting_ends}`` (see :meth:`opened_dispute_id`)."""
        return self._submit(keypair, "challenge", {"task_id": task_id, "worker": worker}, wait=wait)

    @staticmethod
    def opened_dispute_id(receipt: Receipt) -> int:
        """The dispute id of the ``DisputeOpened`` event in *receipt*."""
        return int(receipt.expect("Disputes", "DisputeOpened").attributes["dispute_id"])

    def vote(
        self,
        keypair: Keypair,
        dispute_id: int,
        result_hash: bytes | str,
        *,
        wait: Wait = "inclusion",
    ) -> Receipt:
        """As a selected verifier, vote the hash (32 bytes) of the result you computed.
        Emits ``Voted``, and ``DisputeResolved`` with the last vote."""
        params = {"dispute_id": dispute_id, "result_hash": h256(result_hash, "result_hash")}
        return self._submit(keypair, "vote", params, wait=wait)

    def resolve(self, keypair: Keypair, dispute_id: int, *, wait: Wait = "inclusion") -> Receipt:
        """Resolve after the voting period (anyone). Emits ``DisputeResolved``."""
        return self._submit(keypair, "resolve", {"dispute_id": dispute_id}, wait=wait)

    def dispute(self, dispute_id: int) -> DisputeInfo | None:
        """Open dispute *dispute_id*, or None (unknown or resolved)."""
        value = self._query("Disputes", [dispute_id])
        return None if value is None else DisputeInfo.from_value(dispute_id, value)

    def disputes(self) -> list[DisputeInfo]:
        """Every open dispute, by id."""
        found = (DisputeInfo.from_value(int(k), v) for k, v in self._query_map("Disputes"))
        return sorted(found, key=lambda d: d.dispute_id)

    def dispute_of(self, task_id: int, worker: str) -> int | None:
        """The id of the open dispute over *worker*'s result for *task_id*, or None."""
        value = self._query("DisputeIndex", [task_id, worker])
        return None if value is None else int(value)

    def next_dispute_id(self) -> int:
        return int(self._query("NextDisputeId") or 0)
