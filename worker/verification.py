"""Cheap verification of results: majority vote over redundant runs, spot checks.

Source: issue 4, "Verification (cheap checks): redundant execution with majority
vote, spot checks with known answers, reputation tiers" (the tiers and how much of
each check they get are in :mod:`.quality`).

- :func:`majority`: given the (verified) results of one job from several workers, the
  output hash a strict majority agrees on, who agreed and who did not. The sandbox is
  deterministic, so honest workers agree bit for bit, fuel included; the billed fuel
  is the smallest claim among the majority.
- :class:`SpotCheckTable`: (module hash, input hash) -> known output hash. A requester
  mixes such jobs in (:func:`should_spot_check`, at the tier's rate) and catches a
  worker whose result differs. Keep the table private and large: a worker that knows
  which inputs are checks could answer only those honestly.
  :func:`prime_count_spot_checks` gives known answers for the built-in
  ``prime_count`` job (values of the prime-counting function).
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ccnet.client.jobs.catalogue import KNOWN_PRIME_COUNTS
from ccnet.client.jobs.results import SignedResult, input_hash, output_hash

from .exceptions import VerificationError

__all__ = [
    "MajorityVerdict",
    "SpotCheckTable",
    "majority",
    "prime_count_spot_checks",
    "should_spot_check",
]


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
    strict majority, ``len(results) // 2 + 1``). Signatures must have been checked
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
    need = len(results) // 2 + 1 if quorum is None else quorum
    if need < 1:
        raise VerificationError("quorum must be at least 1")
    counts = Counter(r.output_hash for r in results)
    (winner, votes), *rest = counts.most_common()
    if votes < need or (rest and rest[0][1] == votes):
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


class SpotCheckTable:
    """Known answers: (module hash, input hash) -> output hash (all 32 bytes)."""

    def __init__(self, entries: Iterable[tuple[bytes, bytes, bytes]] = ()) -> None:
        self._known: dict[tuple[bytes, bytes], bytes] = {}
        for module, job_input, output in entries:
            self.add(module, job_input, output)

    def __len__(self) -> int:
        return len(self._known)

    def add(self, module_hash: bytes, input_hash: bytes, output_hash: bytes) -> None:
        """Record a known answer (``ValueError`` if it contradicts one already known)."""
        key = (module_hash, input_hash)
        known = self._known.get(key)
        if known is not None and known != output_hash:
            raise ValueError("a different answer is already known for this job")
        self._known[key] = output_hash

    def add_output(self, module_hash: bytes, input_hash: bytes, output: bytes) -> None:
        """Record a known answer given as the output bytes."""
        self.add(module_hash, input_hash, output_hash(output))

    def expected(self, module_hash: bytes, input_hash: bytes) -> bytes | None:
        """The known output hash of a job, if any."""
        return self._known.get((module_hash, input_hash))

    def check(self, result: SignedResult) -> bool | None:
        """``True`` if *result* matches the known answer, ``False`` if it does not,
        ``None`` if the job has no known answer."""
        known = self.expected(result.module_hash, result.input_hash)
        return None if known is None else known == result.output_hash

    def inputs_for(self, module_hash: bytes) -> list[bytes]:
        """Input hashes with a known answer for *module_hash*."""
        return sorted(i for (m, i) in self._known if m == module_hash)


def prime_count_spot_checks(module_hash: bytes) -> SpotCheckTable:
    """Known answers for the built-in ``prime_count`` module with hash *module_hash*:
    args ``[str(N)]``, empty stdin, output ``f"{pi}\\n"`` (:data:`KNOWN_PRIME_COUNTS`)."""
    table = SpotCheckTable()
    for n, count in KNOWN_PRIME_COUNTS.items():
        table.add_output(module_hash, input_hash([str(n)], b""), f"{count}\n".encode())
    return table


def should_spot_check(permille: int, rng: random.Random | None = None) -> bool:
    """Whether to send the next job as a spot check, at *permille* per mille. Drawn
    from the requester's private randomness (``secrets`` unless *rng* is given), so a
    worker cannot predict which jobs are checks."""
    if not 0 <= permille <= 1000:
        raise ValueError("permille must be in [0, 1000]")
    draw = secrets.randbelow(1000) if rng is None else rng.randrange(1000)
    return draw < permille
