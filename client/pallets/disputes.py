"""``chain.disputes``: challenge a revealed result; drawn verifiers commit and reveal votes.

The flow (``pallets/disputes`` crate docs):

1. ``challenge(task_id, worker, expected)`` holds ``ChallengeStake`` (the task's
   requester or claimants) or ``OutsiderChallengeStake`` (anyone else); *expected* is an
   optional :func:`~ccnet.client.commitments.expected_commitment` of the result the
   challenger expects. The dispute is :attr:`DisputeInfo.drawing` until block
   ``draw_at`` (``DrawDelay`` blocks later), whose ``on_initialize`` draws up to
   ``VerifierCount`` staked workers (never the accused, the challenger, the requester or
   another claimant), each bonding ``VerifierBond``; with fewer than ``MinVerifiers``
   candidates it ends unjudged (``NotEnoughVerifiers``).
2. Verifiers ``commit_vote`` (:func:`~ccnet.client.commitments.vote_commitment` of their
   own result hash) until ``commit_ends``, then ``reveal_vote`` (as soon as every
   verifier committed, or after ``commit_ends``) until ``reveal_ends``; the challenger
   ``reveal_expected`` in the same phase.
3. Everything revealed resolves it at once; else anyone ``resolve`` s it after
   ``reveal_ends``. A verdict (``WorkerAtFault``, ``WorkerUpheld``) judges the result for
   good; without one (``Inconclusive``: too few votes revealed, a tie) the result may be
   challenged again until the task's ``reopened_until``.

Errors raise :class:`~ccnet.client.exceptions.DisputesError` (phase errors as
:class:`~ccnet.client.exceptions.CourtTooEarlyError` /
:class:`~ccnet.client.exceptions.CourtTooLateError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..codec import fixed_hex, h256
from ..dispatch import error_from_dispatch
from ..events import Receipt
from ._base import PalletApi, variant

if TYPE_CHECKING:
    from substrateinterface import Keypair

    from ..chain import Wait

__all__ = ["DisputeInfo", "Disputes"]


def _pairs(raw: Any) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in raw or []:
        if isinstance(item, dict):
            values = list(item.values())
            pairs.append((str(values[0]), str(values[1])))
        else:
            pairs.append((str(item[0]), str(item[1])))
    return tuple(pairs)


@dataclass(frozen=True)
class DisputeInfo:
    """``Disputes.Disputes(dispute_id)``: an open dispute."""

    dispute_id: int
    task_id: int
    worker: str
    """The accused worker."""
    challenger: str
    stake: int
    """Planck held from the challenger."""
    claimed_hash: str
    """0x hex H256 the worker revealed."""
    expected: str | None
    """0x hex commitment to the result the challenger expects, if it made one."""
    expected_hash: str | None
    """The expected result, once revealed."""
    audit: bool
    """The challenger proved to be a registered auditor."""
    draw_at: int | None
    """Block whose ``on_initialize`` draws the verifiers (None once drawn)."""
    commit_ends: int | None
    """Last block of the commit phase (None until drawn)."""
    reveal_ends: int | None
    """Last block of the reveal phase (None until drawn)."""
    verifiers: tuple[str, ...]
    commitments: tuple[tuple[str, str], ...]
    """(verifier, vote commitment) pairs so far."""
    votes: tuple[tuple[str, str], ...]
    """(verifier, revealed result hash) pairs so far."""

    @property
    def drawing(self) -> bool:
        """Verifiers not drawn yet."""
        return self.draw_at is not None

    @property
    def all_committed(self) -> bool:
        return not self.drawing and len(self.commitments) == len(self.verifiers)

    def committed(self, verifier: str) -> bool:
        return any(v == verifier for v, _ in self.commitments)

    def revealed(self, verifier: str) -> bool:
        return any(v == verifier for v, _ in self.votes)

    def commit_open(self, head: int) -> bool:
        """Whether ``commit_vote`` is allowed in the block after *head*."""
        return self.commit_ends is not None and head + 1 <= self.commit_ends

    def reveal_open(self, head: int) -> bool:
        """Whether ``reveal_vote`` / ``reveal_expected`` are allowed in the block after
        *head*."""
        if self.commit_ends is None or self.reveal_ends is None:
            return False
        nxt = head + 1
        return (nxt > self.commit_ends or self.all_committed) and nxt <= self.reveal_ends

    def resolvable(self, head: int) -> bool:
        """Whether ``resolve`` is allowed in the block after *head*."""
        if self.reveal_ends is None:
            return False
        everything = len(self.votes) == len(self.verifiers) and (
            self.expected is None or self.expected_hash is not None
        )
        return head + 1 > self.reveal_ends or everything

    @classmethod
    def from_value(cls, dispute_id: int, value: Any) -> DisputeInfo:
        phase, fields = variant(value["phase"])
        fields = fields or {}
        draw_at = int(fields["draw_at"]) if phase == "Drawing" else None
        commit_ends = int(fields["commit_ends"]) if phase == "Voting" else None
        reveal_ends = int(fields["reveal_ends"]) if phase == "Voting" else None
        expected = value.get("expected")
        expected_hash = value.get("expected_hash")
        return cls(
            dispute_id=dispute_id,
            task_id=int(value["task_id"]),
            worker=str(value["worker"]),
            challenger=str(value["challenger"]),
            stake=int(value["stake"]),
            claimed_hash=str(value["claimed_hash"]),
            expected=None if expected is None else str(expected),
            expected_hash=None if expected_hash is None else str(expected_hash),
            audit=bool(value.get("audit", False)),
            draw_at=draw_at,
            commit_ends=commit_ends,
            reveal_ends=reveal_ends,
            verifiers=tuple(str(v) for v in value["verifiers"]),
            commitments=_pairs(value.get("commitments")),
            votes=_pairs(value.get("votes")),
        )


class Disputes(PalletApi):
    """Typed calls and reads of the Disputes pallet."""

    pallet = "Disputes"

    # -- calls -------------------------------------------------------------------------

    def challenge(
        self,
        keypair: Keypair,
        task_id: int,
        worker: str,
        expected: bytes | str | None = None,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """Dispute *worker*'s revealed result for *task_id*, holding the challenge stake;
        *expected* is an optional 32-byte
        :func:`~ccnet.client.commitments.expected_commitment` (keep its salt first).
        Emits ``DisputeOpened{dispute_id, draw_at}`` (see :meth:`opened_dispute_id`);
        ``NotDisputable``, ``SelfChallenge``, ``NoVerifiers``, ``InsufficientBalance``."""
        params = {
            "task_id": task_id,
            "worker": worker,
            "expected": None if expected is None else h256(expected, "expected"),
        }
        return self._submit(keypair, "challenge", params, wait=wait)

    @staticmethod
    def opened_dispute_id(receipt: Receipt) -> int:
        """The dispute id of the ``DisputeOpened`` event in *receipt*."""
        return int(receipt.expect("Disputes", "DisputeOpened").attributes["dispute_id"])

    def commit_vote(
        self,
        keypair: Keypair,
        dispute_id: int,
        commitment: bytes | str,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """As a drawn verifier, commit (until ``commit_ends``) to the hash of your own
        re-execution: *commitment* is :func:`~ccnet.client.commitments.vote_commitment`
        (keep its salt first). Emits ``VoteCommitted``."""
        params = {"dispute_id": dispute_id, "commitment": h256(commitment, "commitment")}
        return self._submit(keypair, "commit_vote", params, wait=wait)

    def reveal_vote(
        self,
        keypair: Keypair,
        dispute_id: int,
        result_hash: bytes | str,
        salt: bytes | str,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """Open your vote commitment: the result hash and the salt (32 bytes each). Emits
        ``VoteRevealed``, and ``DisputeResolved`` with the last reveal."""
        params = {
            "dispute_id": dispute_id,
            "result_hash": h256(result_hash, "result_hash"),
            "salt": fixed_hex(salt, 32, "salt"),
        }
        return self._submit(keypair, "reveal_vote", params, wait=wait)

    def reveal_expected(
        self,
        keypair: Keypair,
        dispute_id: int,
        expected_hash: bytes | str,
        salt: bytes | str,
        auditor_salt: bytes | str | None = None,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """As the challenger, open the expected-result commitment in the reveal phase;
        *auditor_salt* proves a registered auditor (its expected result then decides).
        Emits ``ExpectedRevealed``, maybe ``DisputeResolved``."""
        params = {
            "dispute_id": dispute_id,
            "expected_hash": h256(expected_hash, "expected_hash"),
            "salt": fixed_hex(salt, 32, "salt"),
            "auditor_salt": None if auditor_salt is None else fixed_hex(auditor_salt, 32),
        }
        return self._submit(keypair, "reveal_expected", params, wait=wait)

    def resolve(self, keypair: Keypair, dispute_id: int, *, wait: Wait | None = None) -> Receipt:
        """Resolve after the reveal phase, or once everything is revealed (anyone).
        Emits ``DisputeResolved``; ``VotingOpen`` before."""
        return self._submit(keypair, "resolve", {"dispute_id": dispute_id}, wait=wait)

    def register_auditor(
        self, sudo_key: Keypair, key: bytes | str, *, wait: Wait | None = None
    ) -> Receipt:
        """Register an auditor key (:func:`~ccnet.client.commitments.auditor_key`)
        through ``Sudo.sudo`` signed by *sudo_key*. Emits ``AuditorRegistered``."""
        return self._sudo(sudo_key, "register_auditor", {"key": h256(key, "key")}, wait)

    def remove_auditor(
        self, sudo_key: Keypair, key: bytes | str, *, wait: Wait | None = None
    ) -> Receipt:
        """Remove an auditor key through ``Sudo.sudo``. Emits ``AuditorRemoved``."""
        return self._sudo(sudo_key, "remove_auditor", {"key": h256(key, "key")}, wait)

    def _sudo(
        self, sudo_key: Keypair, call: str, params: dict[str, Any], wait: Wait | None
    ) -> Receipt:
        chain = self._chain
        with chain.lock:
            inner = chain.api.compose_call(
                call_module=self.pallet, call_function=call, call_params=params
            )
        receipt = chain.submit(sudo_key, "Sudo", "sudo", {"call": inner}, wait=wait)
        outcome = receipt.expect("Sudo", "Sudid").attributes.get("sudo_result")
        if isinstance(outcome, Mapping) and "Err" in outcome:
            raise error_from_dispatch(
                outcome["Err"],
                chain._error_lookup,
                block_hash=receipt.block_hash,
                extrinsic_hash=receipt.extrinsic_hash,
            )
        return receipt

    # -- reads -------------------------------------------------------------------------

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
        """The id the next dispute gets."""
        return int(self._query("NextDisputeId") or 0)

    def is_auditor_key(self, key: bytes | str) -> bool:
        """Whether *key* is a registered auditor key."""
        return self._query("Auditors", [h256(key, "key")]) is not None
