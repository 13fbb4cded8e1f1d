"""The requester's decision over the replies to one job: who is right, who gets paid.

Redundant execution with a majority vote, spot checks with known answers, and proofs: a
result that fails a check is never paid (``docs/protocol.md``, section 8). Pure
functions, no I/O: the runner (:mod:`.runs`) gathers the replies, then calls
:func:`decide` and :func:`payments`. :func:`strict_majority` and :func:`winning_hash`
are the one majority rule, for off-chain results (:func:`majority`) and on-chain ones
(:func:`hash_majority`).

A :class:`Reply` is what one worker's attempt came to, already checked one by one
(signature, binding to the job, output hash, proof): ``returned`` (a valid signed
result), ``invalid`` (a result that failed those checks: never paid), ``failed`` (the
worker said :class:`~ccnet.client.jobs.messages.JobFailed`), ``unreachable`` (no session,
timeout). :func:`decide` then compares the valid results:

1. A known answer (spot check) decides alone: results with that output hash agree,
   the others dissent. Verified if at least one agrees.
2. Else, with several workers asked, :func:`~ccnet.client.requester.verdicts.majority` over
   the valid results with a quorum of a strict majority *of the workers asked*
   (3 asked, 1 timed out: 2 must agree). No quorum: rejected, nobody paid.
3. Else (one worker), its valid result is accepted.

Only agreeing results are paid, each ``price(fuel, rate of that worker)`` with ``fuel``
the smallest fuel claim among them (:func:`payments`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from ..jobs.billing import price
from ..jobs.results import SignedResult
from .exceptions import PlanError, VerificationError
from .quality import TierPolicy

_H = TypeVar("_H", bytes, str)

__all__ = [
    "VERIFY_MODES",
    "Decision",
    "HashMajority",
    "MajorityVerdict",
    "Plan",
    "Reply",
    "ReplyKind",
    "decide",
    "hash_majority",
    "majority",
    "payments",
    "plan_verification",
    "strict_majority",
    "winning_hash",
]

VERIFY_MODES = ("auto", "none", "majority", "spot", "proof")
"""How a requester verifies a job (see :func:`plan_verification`)."""
MAX_REDUNDANCY = 7
"""The chain's bound on redundancy (``Tasks.post_task``), kept off chain too."""


class ReplyKind(StrEnum):
    """How one worker's attempt ended (before comparing with the others)."""

    RETURNED = "returned"
    INVALID = "invalid"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Reply:
    """One worker's attempt at a job."""

    worker: str
    """SS58 address."""
    kind: ReplyKind
    result: SignedResult | None = None
    """The signed result (``returned``; also ``invalid`` when it parsed)."""
    output: bytes | None = None
    """The output bytes (``returned``)."""
    reason: str = ""
    """Why it is ``invalid``, ``failed`` or ``unreachable``."""
    code: str = ""
    """The JobFailed code (``failed``)."""
    fuel_used: int = 0
    """Fuel the worker reported (result or JobFailed), fuel."""
    error: Exception | None = None
    """The typed error behind an ``invalid`` reply, when there is one (e.g.
    :class:`~ccnet.client.requester.exceptions.FuelClaimError`)."""

    @property
    def valid(self) -> bool:
        return self.kind is ReplyKind.RETURNED and self.result is not None


def strict_majority(voters: int) -> int:
    """Votes a strict majority of *voters* needs: ``voters // 2 + 1`` (2 of 3, 3 of 4)."""
    return voters // 2 + 1


def winning_hash(hashes: Sequence[_H], need: int) -> tuple[_H | None, int]:
    """The majority rule every verdict uses: the hash given most often wins if at least
    *need* voters gave it and no other hash was given as often (a tie decides nothing).
    Returns (winner or None, the most votes any hash got)."""
    if not hashes:
        return None, 0
    (winner, votes), *rest = Counter(hashes).most_common()
    if votes < need or (rest and rest[0][1] == votes):
        return None, votes
    return winner, votes


@dataclass(frozen=True)
class MajorityVerdict:
    """The decision over redundant results of one job."""

    output_hash: bytes
    """The output hash the majority agrees on, 32 bytes."""
    agreeing: tuple[str, ...]
    """Workers whose result has that hash (sorted)."""
    dissenting: tuple[str, ...]
    """Workers whose result differs (sorted): candidates for a dispute."""
    fuel_used: int
    """The smallest fuel claim among the agreeing results, fuel."""
    fuel_disagreement: bool
    """Whether the agreeing results claimed different fuel (a sign of a lying worker
    or of a different Wasmtime version)."""


def majority(results: Sequence[SignedResult], *, quorum: int | None = None) -> MajorityVerdict:
    """Decide *results* (one per worker, all for the same job and input).

    The winning output hash must be claimed by at least *quorum* workers (default: a
    strict majority, :func:`strict_majority`). Signatures must have been checked
    (:meth:`SignedResult.verify`). Raises :class:`VerificationError` for no results,
    results of different jobs, a worker with two results, or no hash reaching quorum.
    """
    if not results:
        raise VerificationError("no results to decide")
    jobs = {(r.task_id, r.module_hash, r.input_hash) for r in results}
    if len(jobs) != 1:
        raise VerificationError("the results are for different jobs or inputs")
    workers = [r.worker for r in results]
    if len(set(workers)) != len(workers):
        raise VerificationError("a worker submitted more than one result")
    need = strict_majority(len(results)) if quorum is None else quorum
    if need < 1:
        raise VerificationError("quorum must be at least 1")
    winner, votes = winning_hash([r.output_hash for r in results], need)
    if winner is None:
        raise VerificationError(
            f"no output hash reaches a quorum of {need} ({votes} of {len(results)} agree)"
        )
    agreeing = [r for r in results if r.output_hash == winner]
    fuels = {r.fuel_used for r in agreeing}
    return MajorityVerdict(
        output_hash=winner,
        agreeing=tuple(sorted(r.worker for r in agreeing)),
        dissenting=tuple(sorted(r.worker for r in results if r.output_hash != winner)),
        fuel_used=min(fuels),
        fuel_disagreement=len(fuels) > 1,
    )


@dataclass(frozen=True)
class Decision:
    """The verdict over one job's replies."""

    verified: bool
    method: str
    """``"spot"``, ``"majority"`` or ``"single"`` (how it was decided)."""
    output_hash: bytes | None = None
    """The accepted output hash (32 bytes), None when rejected."""
    fuel_used: int = 0
    """Fuel billed to each agreeing worker (smallest agreeing claim), fuel."""
    agreeing: tuple[str, ...] = ()
    """Workers whose valid result has the accepted hash (sorted): paid."""
    dissenting: tuple[str, ...] = ()
    """Workers whose valid result differs (sorted): not paid, candidates for a dispute."""
    reason: str = ""
    """Why it was rejected (empty when verified)."""
    fuel_disagreement: bool = False
    """Agreeing results claimed different fuel."""
    votes: Mapping[bytes, int] = field(default_factory=dict)
    """Valid results per output hash."""

    @property
    def faulty(self) -> tuple[str, ...]:
        """Dissenters (a wrong answer); invalid replies are counted by the caller."""
        return self.dissenting


def decide(
    replies: Sequence[Reply], *, asked: int, known_output_hash: bytes | None = None
) -> Decision:
    """Decide a job that *asked* workers were sent (see the module docs)."""
    valid = [r for r in replies if r.valid]
    votes = Counter(r.result.output_hash for r in valid if r.result is not None)
    if known_output_hash is not None:
        agree = [
            r for r in valid if r.result is not None and r.result.output_hash == known_output_hash
        ]
        dissent = sorted(r.worker for r in valid if r not in agree)
        if not agree:
            return Decision(
                False,
                "spot",
                dissenting=tuple(dissent),
                reason="no result matches the known answer",
                votes=dict(votes),
            )
        fuels = {r.fuel_used for r in agree}
        return Decision(
            True,
            "spot",
            output_hash=known_output_hash,
            fuel_used=min(fuels),
            agreeing=tuple(sorted(r.worker for r in agree)),
            dissenting=tuple(dissent),
            fuel_disagreement=len(fuels) > 1,
            votes=dict(votes),
        )
    if not valid:
        why = "; ".join(f"{r.worker}: {r.kind.value} {r.reason}".strip() for r in replies)
        return Decision(
            False, "majority" if asked > 1 else "single", reason=f"no valid result ({why})"
        )
    if asked > 1:
        try:
            verdict = majority(
                [r.result for r in valid if r.result is not None], quorum=strict_majority(asked)
            )
        except VerificationError as err:
            return Decision(False, "majority", reason=str(err), votes=dict(votes))
        return Decision(
            True,
            "majority",
            output_hash=verdict.output_hash,
            fuel_used=verdict.fuel_used,
            agreeing=verdict.agreeing,
            dissenting=verdict.dissenting,
            fuel_disagreement=verdict.fuel_disagreement,
            votes=dict(votes),
        )
    (only,) = valid[:1]
    assert only.result is not None
    return Decision(
        True,
        "single",
        output_hash=only.result.output_hash,
        fuel_used=only.result.fuel_used,
        agreeing=(only.worker,),
        votes=dict(votes),
    )


def payments(decision: Decision, rates: Mapping[str, int]) -> dict[str, int]:
    """Planck owed to each agreeing worker: ``price(decision.fuel_used, rate)``, with
    *rates* the planck-per-fuel each worker was offered. Empty when rejected."""
    if not decision.verified:
        return {}
    return {w: price(decision.fuel_used, rates[w]) for w in decision.agreeing}


@dataclass(frozen=True)
class HashMajority:
    """A majority over on-chain results (``Tasks.Assignments``: hash and fuel, unsigned)."""

    result_hash: str | None
    """0x hex of the winning hash, None without a quorum."""
    agreeing: tuple[str, ...]
    dissenting: tuple[str, ...]
    pending: tuple[str, ...]
    """Workers that claimed but have not submitted."""


def hash_majority(results: Mapping[str, str | None], *, quorum: int | None = None) -> HashMajority:
    """Decide worker -> submitted result hash (None: not yet). The winning hash needs
    *quorum* votes (default: a strict majority of the submitted ones) and no tie."""
    submitted = {w: h for w, h in results.items() if h is not None}
    pending = tuple(sorted(w for w, h in results.items() if h is None))
    if not submitted:
        return HashMajority(None, (), (), pending)
    need = strict_majority(len(submitted)) if quorum is None else quorum
    winner, _ = winning_hash(list(submitted.values()), need)
    if winner is None:
        return HashMajority(None, (), tuple(sorted(submitted)), pending)
    return HashMajority(
        winner,
        tuple(sorted(w for w, h in submitted.items() if h == winner)),
        tuple(sorted(w for w, h in submitted.items() if h != winner)),
        pending,
    )


@dataclass(frozen=True)
class Plan:
    """How one job is run and checked."""

    redundancy: int
    """Workers that run it (the majority decides when more than one)."""
    proof: str | None
    """Circuit whose proof every result must carry, or None."""
    needs_known_answer: bool
    """The job must be checked against a known answer (``verify="spot"``)."""
    mix_spot_check: bool
    """Also send one worker a job with a known answer (``verify="auto"``, drawn at the
    tier's rate)."""
    use_known_answer: bool = False
    """A known answer of this job, if the requester has one, decides (``"auto"`` and
    ``"spot"``; the explicit ``"none"``, ``"majority"`` and ``"proof"`` modes do what
    they say)."""


def plan_verification(
    verify: str,
    policy: TierPolicy,
    *,
    redundancy: int | None = None,
    proof: str | None = None,
    default_proof: str | None = None,
    spot_draw: bool = False,
) -> Plan:
    """The plan for *verify* (one of :data:`VERIFY_MODES`) given the tier *policy* of
    the best-ranked worker:

    - ``"none"``: *redundancy* or 1 worker, signature and output checks only (a given
      *proof* is still checked).
    - ``"majority"``: *redundancy* or 3 workers (at least 2), majority vote.
    - ``"spot"``: *redundancy* or 1, checked against a known answer.
    - ``"proof"``: *redundancy* or 1, each result must carry a valid proof of *proof*
      (or *default_proof*).
    - ``"auto"``: the tier decides: ``policy.redundancy`` workers, a proof of *proof*
      (or of *default_proof* when the tier requires proofs), and a mixed-in spot check
      when *spot_draw* (the caller draws it at ``policy.spot_check_permille``); a known
      answer of the job itself, if any, decides.

    Raises :class:`PlanError` for an unknown mode, a redundancy outside 1..7, majority
    with fewer than 2 workers, or ``"proof"`` without a circuit.
    """
    if verify not in VERIFY_MODES:
        raise PlanError(f"verify must be one of {', '.join(VERIFY_MODES)}, not {verify!r}")
    defaults = {"none": 1, "majority": 3, "spot": 1, "proof": 1, "auto": policy.redundancy}
    count = defaults[verify] if redundancy is None else redundancy
    if not 1 <= count <= MAX_REDUNDANCY:
        raise PlanError(f"redundancy must be in 1..{MAX_REDUNDANCY}, not {count}")
    if verify == "majority" and count < 2:
        raise PlanError("a majority vote needs at least 2 workers")
    circuit = proof
    if verify == "proof":
        circuit = proof or default_proof
        if circuit is None:
            raise PlanError('verify="proof" needs a circuit (proof=...)')
    elif verify == "auto" and circuit is None and policy.zk_proof_required:
        circuit = default_proof
    return Plan(
        redundancy=count,
        proof=circuit,
        needs_known_answer=verify == "spot",
        mix_spot_check=verify == "auto" and spot_draw,
        use_known_answer=verify in ("auto", "spot"),
    )
