"""VM checkpoints of the built-in jobs in the real sandbox (wasmtime, Asyncify-instrumented
modules from scripts/build-jobs.sh): interrupted at random fuel points and resumed from
encoded images, every job ends with the uninterrupted run's output byte for byte, and
the fuel of its segments adds up to the uninterrupted run's plus a fixed cost per
checkpoint; an image resumes in a fresh process; bad, foreign and sealed-with-another-key
images are refused with clear errors (docs/vm-checkpoints.md)."""

from __future__ import annotations

import hashlib
import json
import random
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccnet.worker.exceptions import (
    CheckpointFormatError,
    CheckpointKeyError,
    CheckpointMismatchError,
    FuelExhaustedError,
    JobTrapError,
    MemoryLimitError,
    NotCheckpointableError,
    OutputLimitError,
)
from ccnet.worker.sandbox import RunLimits, RunOutcome, Sandbox, SuspendedRun
from ccnet.worker.vmcheckpoint import (
    CheckpointPolicy,
    VmImage,
    decode,
    encode,
    new_key,
    seal,
    unseal,
)

JobLoader = Callable[[str], bytes]


@dataclass(frozen=True)
class Job:
    name: str
    args: tuple[str, ...] = ()
    stdin: bytes = b""


def _matmul_input(n: int) -> bytes:
    rng = random.Random(n)
    words = [rng.randrange(2**32) for _ in range(2 * n * n)]
    return struct.pack(f"<I{2 * n * n}I", n, *words)


JOBS = {
    "prime_count": Job("prime_count", ("3000000",)),
    "sha256sum": Job("sha256sum", stdin=random.Random(7).randbytes(1_000_000)),
    "matmul": Job("matmul", stdin=_matmul_input(40)),
}


def _whole(sandbox: Sandbox, wasm: bytes, job: Job) -> RunOutcome:
    return sandbox.run(wasm, args=job.args, stdin=job.stdin)


def _segments(
    sandbox: Sandbox, wasm: bytes, job: Job, stops: list[int]
) -> tuple[RunOutcome, list[int]]:
    """Run *job* suspending at each fuel count in *stops* (and resuming from the encoded
    image each time); the final outcome and the fuel of every segment."""
    image: VmImage | None = None
    fuels: list[int] = []
    for stop in [*stops, None]:
        policy = CheckpointPolicy(suspend_at_fuel=stop)
        result = sandbox.run_checkpointed(
            wasm, policy=policy, resume=image, args=job.args, stdin=job.stdin
        )
        fuels.append(result.fuel_used)
        if isinstance(result, RunOutcome):
            return result, fuels
        image = decode(encode(result.image))
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def checkpoint_cost(sandbox: Sandbox, job_wasm: JobLoader) -> dict[str, tuple[RunOutcome, int]]:
    """Per job: its uninterrupted outcome, and the fuel one checkpoint costs (measured
    with a single interruption half way)."""
    costs = {}
    for name, job in JOBS.items():
        wasm = job_wasm(name)
        whole = _whole(sandbox, wasm, job)
        final, fuels = _segments(sandbox, wasm, job, [whole.fuel_used // 2])
        assert final.stdout == whole.stdout
        costs[name] = (whole, sum(fuels) - whole.fuel_used)
    return costs


def test_the_checkpointable_jobs_are_known_answers(
    checkpoint_cost: dict[str, tuple[RunOutcome, int]],
) -> None:
    assert checkpoint_cost["prime_count"][0].stdout == b"216816\n"
    digest = hashlib.sha256(JOBS["sha256sum"].stdin).hexdigest()
    assert checkpoint_cost["sha256sum"][0].stdout == f"{digest}\n".encode()
    for name, (_, cost) in checkpoint_cost.items():
        assert 0 < cost < 5_000, (name, cost)  # a few hundred instructions per checkpoint


@pytest.mark.parametrize("name", sorted(JOBS))
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_interrupted_anywhere_a_job_ends_exactly_as_uninterrupted(
    name: str,
    data: st.DataObject,
    sandbox: Sandbox,
    job_wasm: JobLoader,
    checkpoint_cost: dict[str, tuple[RunOutcome, int]],
) -> None:
    job, (whole, cost) = JOBS[name], checkpoint_cost[name]
    stops = sorted(
        data.draw(st.lists(st.integers(1, whole.fuel_used - 1), max_size=5, unique=True))
    )
    final, fuels = _segments(sandbox, job_wasm(name), job, stops)
    assert final.stdout == whole.stdout
    taken = len(fuels) - 1  # stops after the last safe point do not suspend
    assert final.checkpoints == taken
    assert sum(fuels) == whole.fuel_used + taken * cost
    assert final.fuel_before + final.fuel_used == sum(fuels)


def test_periodic_checkpoints_go_on_and_each_one_resumes(
    sandbox: Sandbox, job_wasm: JobLoader, checkpoint_cost: dict[str, tuple[RunOutcome, int]]
) -> None:
    job, (whole, cost) = JOBS["sha256sum"], checkpoint_cost["sha256sum"]
    wasm = job_wasm("sha256sum")
    images: list[VmImage] = []
    every = whole.fuel_used // 4
    done = sandbox.run_checkpointed(
        wasm,
        policy=CheckpointPolicy(every_fuel=every, on_image=images.append),
        args=job.args,
        stdin=job.stdin,
    )
    assert isinstance(done, RunOutcome) and done.stdout == whole.stdout
    assert done.checkpoints == len(images) >= 3
    assert done.fuel_used == whole.fuel_used + len(images) * cost
    assert [i.checkpoints for i in images] == list(range(1, len(images) + 1))
    assert all(i.fuel_used >= k * every for k, i in enumerate(images, 1))
    assert [i.stdin_pos % 65536 for i in images] == [0] * len(images)  # whole reads
    for image in images:  # any of them is a valid place to go on from
        resumed = sandbox.run_checkpointed(
            wasm, policy=CheckpointPolicy(), resume=image, args=job.args, stdin=job.stdin
        )
        assert isinstance(resumed, RunOutcome) and resumed.stdout == whole.stdout


def test_sequence_numbers_go_up_by_one_through_suspensions_and_resumes(
    sandbox: Sandbox, job_wasm: JobLoader, checkpoint_cost: dict[str, tuple[RunOutcome, int]]
) -> None:
    # The number a job record is written under (record_job's checkpoint): every image
    # of a run, the suspension's included, is one more than the one before, and a
    # resumed run goes on from the image it resumed.
    job, (whole, _) = JOBS["sha256sum"], checkpoint_cost["sha256sum"]
    wasm = job_wasm("sha256sum")
    every = whole.fuel_used // 6
    first: list[VmImage] = []
    # Two periodic images, then a suspension between the second and the third.
    policy = CheckpointPolicy(
        every_fuel=every, suspend_at_fuel=every * 5 // 2, on_image=first.append
    )
    suspended = sandbox.run_checkpointed(wasm, policy=policy, args=job.args, stdin=job.stdin)
    assert isinstance(suspended, SuspendedRun) and suspended.image is first[-1]
    assert [i.checkpoints for i in first] == [1, 2, 3]
    second: list[VmImage] = []
    done = sandbox.run_checkpointed(
        wasm,
        policy=CheckpointPolicy(every_fuel=every, on_image=second.append),
        resume=suspended.image,
        args=job.args,
        stdin=job.stdin,
    )
    assert isinstance(done, RunOutcome) and done.stdout == whole.stdout
    assert second and [i.checkpoints for i in second] == list(range(4, 4 + len(second)))


def test_stop_suspends_at_the_next_safe_point(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    stop = threading.Event()
    stop.set()  # e.g. SIGTERM before the first safe point
    job = JOBS["prime_count"]
    run = sandbox.run_checkpointed(
        job_wasm("prime_count"), policy=CheckpointPolicy(stop=stop), args=job.args
    )
    assert isinstance(run, SuspendedRun) and run.image.checkpoints == 1
    assert run.image.fuel_used == run.fuel_used > 0


RESUME_SCRIPT = """
import json, sys
from pathlib import Path
from ccnet.worker.sandbox import Sandbox
from ccnet.worker.vmcheckpoint import CheckpointPolicy, decode, unseal
sealed, key, wasm, arg = (Path(p).read_bytes() for p in sys.argv[1:5])
with Sandbox() as box:
    done = box.run_checkpointed(
        wasm, policy=CheckpointPolicy(), resume=decode(unseal(sealed, key)), args=[arg.decode()]
    )
print(json.dumps({"stdout": done.stdout.decode(), "fuel": done.fuel_used}))
"""


def test_a_sealed_image_resumes_in_a_fresh_process(
    sandbox: Sandbox,
    job_wasm: JobLoader,
    checkpoint_cost: dict[str, tuple[RunOutcome, int]],
    tmp_path: Path,
) -> None:
    job, (whole, cost) = JOBS["prime_count"], checkpoint_cost["prime_count"]
    wasm, key = job_wasm("prime_count"), new_key()
    first = sandbox.run_checkpointed(
        wasm, policy=CheckpointPolicy(suspend_at_fuel=whole.fuel_used // 3), args=job.args
    )
    assert isinstance(first, SuspendedRun)
    files = {"sealed": seal(encode(first.image), key), "key": key, "wasm": wasm}
    files["arg"] = job.args[0].encode()
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-c", RESUME_SCRIPT, *(str(tmp_path / n) for n in files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["stdout"].encode() == whole.stdout
    assert first.fuel_used + result["fuel"] == whole.fuel_used + cost


def test_foreign_bad_and_wrongly_keyed_images_are_refused(
    sandbox: Sandbox, job_wasm: JobLoader
) -> None:
    job, wasm = JOBS["matmul"], job_wasm("matmul")
    run = sandbox.run_checkpointed(
        wasm, policy=CheckpointPolicy(suspend_at_fuel=1), args=job.args, stdin=job.stdin
    )
    assert isinstance(run, SuspendedRun)
    image = run.image

    def resume(image: VmImage, **kw: object) -> object:
        args = dict(wasm=wasm, stdin=job.stdin, seed=b"") | kw
        return sandbox.run_checkpointed(
            args["wasm"],  # type: ignore[arg-type]
            policy=CheckpointPolicy(),
            resume=image,
            stdin=args["stdin"],  # type: ignore[arg-type]
            seed=args["seed"],  # type: ignore[arg-type]
        )

    with pytest.raises(CheckpointMismatchError, match="of module"):
        resume(image, wasm=job_wasm("sha256sum"))
    with pytest.raises(CheckpointMismatchError, match="another input"):
        resume(image, stdin=job.stdin[:-4] + b"\x00\x00\x00\x01")
    with pytest.raises(CheckpointMismatchError, match="another input"):
        resume(image, seed=b"other")
    with pytest.raises(CheckpointMismatchError, match="whose fuel would not agree"):
        resume(replace(image, engine="wasmtime-py 49.0.0"))
    with pytest.raises(MemoryLimitError, match="cap of"):
        sandbox.run_checkpointed(
            wasm,
            policy=CheckpointPolicy(),
            resume=image,
            stdin=job.stdin,
            limits=RunLimits(memory_bytes=image.memory_size - 65536),
        )
    with pytest.raises(NotCheckpointableError, match="no safe points"):
        sandbox.run_checkpointed(job_wasm("resize"), policy=CheckpointPolicy())
    data, key = encode(image), new_key()
    with pytest.raises(CheckpointFormatError, match="corrupted"):
        decode(data[:-100])
    with pytest.raises(CheckpointKeyError):
        unseal(seal(data, key), new_key())
    # The untouched image still resumes to the right answer.
    done = resume(image)
    assert isinstance(done, RunOutcome)
    assert done.stdout == sandbox.run(wasm, stdin=job.stdin).stdout


# -- hostile modules and crafted images -----------------------------------------------

ABI_EXPORTS = """
  (func (export "asyncify_start_unwind") (param i32))
  (func (export "asyncify_stop_unwind"))
  (func (export "asyncify_start_rewind") (param i32))
  (func (export "asyncify_stop_rewind"))"""


def _wat(body: str, *, globals_: str = "", pages: int = 1) -> bytes:
    return bytes(
        wasmtime.wat2wasm(f"""
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "ccnet" "safepoint" (func $sp (param i32 i32)))
  (memory (export "memory") {pages})
  {globals_}
  {ABI_EXPORTS}
  (func (export "_start") {body}))""")
    )


def test_a_module_with_a_mutable_v128_global_runs_and_is_refused_checkpoints(
    sandbox: Sandbox,
) -> None:
    """wasmtime-py aborts the process when asked a v128's type: the worker never asks."""
    wasm = _wat("", globals_='(global (export "v") (mut v128) (v128.const i64x2 0 0))')
    assert isinstance(sandbox.run(wasm), RunOutcome)  # and the process is alive
    with pytest.raises(NotCheckpointableError):
        sandbox.run_checkpointed(wasm, policy=CheckpointPolicy(stop=_set()))


@pytest.mark.parametrize(
    "globals_",
    [
        "(global (mut i32) (i32.const 0))",  # hidden: an image would not hold it
        '(global (export "f") (mut f32) (f32.const 0))',  # NaN payloads do not survive
        '(global (export "r") (mut funcref) (ref.null func))',
    ],
)
def test_modules_whose_state_an_image_cannot_hold_are_not_checkpointable(
    sandbox: Sandbox, globals_: str
) -> None:
    wasm = _wat("", globals_=globals_)
    assert isinstance(sandbox.run(wasm), RunOutcome)
    with pytest.raises(NotCheckpointableError):
        sandbox.run_checkpointed(wasm, policy=CheckpointPolicy())


def test_a_bad_unwind_buffer_is_the_jobs_trap(sandbox: Sandbox) -> None:
    wasm = _wat(
        "(call $sp (i32.const -16) (i32.const 64))",
        globals_='(global (export "g") (mut i32) (i32.const 0))',
    )
    with pytest.raises(JobTrapError, match="unwind buffer"):
        sandbox.run_checkpointed(wasm, policy=CheckpointPolicy(stop=_set()))


def test_fd_read_on_stdin_is_bounded_and_reads_like_wasi(sandbox: Sandbox) -> None:
    """Two iovecs, the second out of bounds: the first non-empty one is filled (as
    Wasmtime's own fd_read); 2,000 iovecs: EINVAL, without the host walking them."""
    body = """
    (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 3))
    (i32.store (i32.const 8) (i32.const 65530)) (i32.store (i32.const 12) (i32.const 100))
    (i32.store8 (i32.const 300)
      (call $fd_read (i32.const 0) (i32.const 0) (i32.const 2) (i32.const 96)))
    (i32.store8 (i32.const 301) (i32.load (i32.const 96)))
    (i32.store8 (i32.const 302)
      (call $fd_read (i32.const 0) (i32.const 0) (i32.const 2000) (i32.const 96)))
    (if (i32.ne (i32.load16_u (i32.const 300)) (i32.const 0x0300)) (then unreachable))
    (if (i32.ne (i32.load8_u (i32.const 302)) (i32.const 28)) (then unreachable))
    (if (i32.ne (i32.load8_u (i32.const 200)) (i32.const 65)) (then unreachable))"""
    wasm = _wat(body, globals_='(global (export "g") (mut i32) (i32.const 0))')
    assert isinstance(sandbox.run(wasm, stdin=b"ABCDEF"), RunOutcome)


def test_crafted_images_are_refused_before_anything_runs(
    sandbox: Sandbox, job_wasm: JobLoader
) -> None:
    job, wasm = JOBS["sha256sum"], job_wasm("sha256sum")
    run = sandbox.run_checkpointed(
        wasm, policy=CheckpointPolicy(suspend_at_fuel=1), stdin=job.stdin
    )
    assert isinstance(run, SuspendedRun)
    image = run.image

    def resume(**changes: object) -> object:
        crafted = decode(encode(replace(image, **changes)))  # type: ignore[arg-type]
        return sandbox.run_checkpointed(
            wasm,
            policy=CheckpointPolicy(),
            resume=crafted,
            stdin=job.stdin,
            limits=RunLimits(stdout_bytes=1000),
        )

    with pytest.raises(CheckpointMismatchError, match="-byte stdin"):
        resume(stdin_pos=len(job.stdin) + 1)
    with pytest.raises(CheckpointMismatchError, match="out of range"):
        resume(random_calls=2**64 - 1)
    with pytest.raises(CheckpointMismatchError, match="out of range"):
        resume(fuel_used=2**64 - 1)
    with pytest.raises(CheckpointMismatchError, match="unwind buffer"):
        resume(unwind_buffer=image.memory_size)
    with pytest.raises(OutputLimitError) as over:
        resume(stdout=b"x" * 2000)
    assert over.value.fuel_used == 0  # refused before it ran
    with pytest.raises(FuelExhaustedError):  # the rewind itself needs fuel
        sandbox.run_checkpointed(
            wasm, policy=CheckpointPolicy(), resume=image, stdin=job.stdin,
            limits=RunLimits(fuel=1),
        )  # fmt: skip


def test_time_spent_saving_an_image_is_not_on_the_jobs_deadline(
    sandbox: Sandbox, job_wasm: JobLoader
) -> None:
    job, wasm = JOBS["prime_count"], job_wasm("prime_count")

    def slow_upload(image: VmImage) -> None:
        time.sleep(1.2)  # e.g. an Arweave upload in on_image

    done = sandbox.run_checkpointed(
        wasm,
        policy=CheckpointPolicy(every_fuel=10**7, on_image=slow_upload),
        args=job.args,
        limits=RunLimits(timeout_ms=1000),
    )
    assert isinstance(done, RunOutcome) and done.checkpoints >= 2


def _set() -> threading.Event:
    event = threading.Event()
    event.set()
    return event
