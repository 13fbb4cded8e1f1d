"""Spot checks: jobs whose answer the requester knows, to catch a lying worker.

How often a worker gets one depends on its reputation tier (:mod:`.quality`); the
majority vote over redundant runs is in :mod:`.verdicts`.

- :class:`KnownJob`: a job with a known answer.
- :class:`SpotCheckTable`: (module hash, input hash) -> known output hash. A requester
  mixes such jobs in (:func:`should_spot_check`, at the tier's rate) and catches a
  worker whose result differs. Keep the table private and large: a worker that knows
  which inputs are checks could answer only those honestly.
  :func:`prime_count_spot_checks` gives known answers for the built-in
  ``prime_count`` job (values of the prime-counting function).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..jobs.catalogue import KNOWN_PRIME_COUNTS, load_job, module_hash
from ..jobs.exceptions import JobModuleNotBuiltError
from ..jobs.results import SignedResult, input_hash, output_hash
from .exceptions import PlanError
from .verdicts import Plan

__all__ = [
    "SPOT_PRIME_MAX",
    "KnownAnswers",
    "KnownJob",
    "LocalRunner",
    "SpotCheckTable",
    "prime_count_spot_checks",
    "should_spot_check",
]

SPOT_PRIME_MAX = 1_000_000
"""Largest N of the built-in ``prime_count`` spot checks (cheap enough to mix in)."""

LocalRunner = Callable[[bytes, tuple[str, ...], bytes, int], bytes]
"""``run(wasm, args, stdin, fuel_limit) -> stdout``: runs a job on the requester's own
machine (blocking; called in a thread) to learn its answer. The requester SDK has no
sandbox; e.g. with the worker's::

    box = ccnet.worker.sandbox.Sandbox()
    run = lambda wasm, args, stdin, fuel: box.run(
        wasm, args=list(args), stdin=stdin, limits=RunLimits(fuel=fuel)
    ).stdout
"""


@dataclass(frozen=True)
class KnownJob:
    """A job whose answer the requester knows: a spot check it can mix in."""

    module_hash: bytes
    """The module's hash, 32 bytes."""
    args: tuple[str, ...]
    """argv after the program name."""
    stdin: bytes
    output_hash: bytes
    """The known output's hash, 32 bytes."""


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


class KnownAnswers:
    """The requester's known answers (a :class:`SpotCheckTable`), the jobs among them it
    can mix in as spot checks, and the module bytes it has (by hash) to send them with.
    *local_runner* computes a missing answer for ``verify="spot"`` (see
    :data:`LocalRunner`)."""

    def __init__(
        self, jobs: Iterable[KnownJob] = (), *, local_runner: LocalRunner | None = None
    ) -> None:
        self.jobs: list[KnownJob] = list(jobs)
        self.table = SpotCheckTable(
            (k.module_hash, input_hash(k.args, k.stdin), k.output_hash) for k in self.jobs
        )
        self.modules: dict[bytes, bytes] = {}
        """Wasm binaries by module hash (every module submitted, and the built-in ones)."""
        self.local_runner = local_runner

    def module(self, wasm: bytes) -> bytes:
        """Keep *wasm*; returns its hash."""
        digest = module_hash(wasm)
        self.modules[digest] = wasm
        return digest

    def add(self, module: bytes, args: Sequence[str], stdin: bytes, output: bytes) -> KnownJob:
        """Remember the answer of a job: *module* is the Wasm binary (or its 32-byte
        hash, when the binary is already known here)."""
        digest = module if len(module) == 32 else self.module(module)
        known = KnownJob(digest, tuple(args), stdin, output_hash(output))
        self.table.add(digest, input_hash(args, stdin), known.output_hash)
        self.jobs.append(known)
        return known

    def add_builtin(self) -> None:
        """The ``prime_count`` answers up to :data:`SPOT_PRIME_MAX`, when that job is
        built (nothing otherwise)."""
        try:
            wasm = load_job("prime_count")
        except JobModuleNotBuiltError:
            return
        digest = self.module(wasm)
        for n, count in KNOWN_PRIME_COUNTS.items():
            if n <= SPOT_PRIME_MAX:
                self.add(digest, (str(n),), b"", f"{count}\n".encode())

    def mixable(self) -> list[KnownJob]:
        """The known jobs whose module bytes are here (so they can be sent)."""
        return [k for k in self.jobs if k.module_hash in self.modules]

    async def expected(
        self,
        plan: Plan,
        wasm: bytes,
        digest: bytes,
        args: tuple[str, ...],
        stdin: bytes,
        fuel: int,
    ) -> bytes | None:
        """The known output hash that decides this job under *plan*, if any. With
        ``verify="spot"`` and none known, computed with the local runner, else
        :class:`~ccnet.client.requester.exceptions.PlanError`."""
        if not plan.use_known_answer:
            return None
        known = self.table.expected(digest, input_hash(args, stdin))
        if known is not None or not plan.needs_known_answer:
            return known
        if self.local_runner is None:
            raise PlanError(
                'verify="spot": no known answer for this job (add_known_answer(), or '
                "a local_runner to compute it here)"
            )
        stdout = await asyncio.to_thread(self.local_runner, wasm, args, stdin, fuel)
        answer = output_hash(stdout)
        self.table.add(digest, input_hash(args, stdin), answer)
        return answer


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
