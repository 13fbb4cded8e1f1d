"""The job file of ``ccnet job run --checkpoint-every`` / ``ccnet job resume``
(:mod:`ccnet.client.requester.jobfile`: round trip, malformed or truncated files, other
versions, a settled job refused) and the CLI's option checks (nothing reaches a chain,
a DHT or a worker; the live run is tests/integration/test_job_checkpoint_cli_live.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccnet.client.cli import app
from ccnet.client.commands import _common
from ccnet.client.commands._common import ExitCode, exit_code_for
from ccnet.client.commands.job import VerifyMode, check_checkpoint_options, job_file_path
from ccnet.client.exceptions import JobUnfinishedError, MalformedMessageError, UsageError, UserError
from ccnet.client.jobs.billing import price
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.messages import JobCheckpoint, JobFailed, JobResult, JobSuspended
from ccnet.client.requester.jobfile import (
    OPEN,
    SETTLED,
    SETTLING,
    JobFile,
    dumps,
    loads,
    recorded_module_path,
)
from ccnet.client.requester.migration import Announced, CheckpointedJob, Segment

runner = CliRunner()
MODULE = b"\0asm\x01\0\0\0"
A = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"  # Alice
B = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"  # Bob


def note(number: int, fuel: int, job_id: bytes) -> JobCheckpoint:
    return JobCheckpoint(job_id, number, fuel, bytes([number]) * 32, f"tx-{number}", 1000 + number)


def a_job() -> CheckpointedJob:
    from ccnet.client.jobs.messages import JobRequest

    base = JobRequest(
        job_id=bytes(16),
        module_hash=module_hash(MODULE),
        input=b"\x00\xffinput",
        args=("3000000", "x y"),
        fuel_limit=10**9,
        seed=b"\x01\x02",
        task_id=2**63 + 5,
    )
    job = CheckpointedJob(base, MODULE, every_fuel=1_000_000, key=bytes(range(32)))
    first = job.next_request(rate_planck_per_fuel=7, channel_id=b"\xaa" * 32)
    one, two = note(1, 1_000_000, first.job_id), note(2, 2_000_000, first.job_id)
    job.checkpoints += [Announced(A, one), Announced(A, two)]
    job.segments.append(Segment(A, first, None, 2_000_000, None, 7 * 10**9, (one, two)))
    second = job.next_request(rate_planck_per_fuel=9, channel_id=b"\xbb" * 32)
    three = note(3, 3_000_000, second.job_id)
    job.checkpoints.append(Announced(B, three))
    stop = JobSuspended.at(three, 1_000_000)
    job.segments.append(
        Segment(B, second, stop, 1_000_000, job.checkpoints[1], 9 * 10**9, (three,))
    )
    third = job.next_request(rate_planck_per_fuel=9, channel_id=b"\xbb" * 32)
    failed = JobFailed(third.job_id, "oom", "out of memory", 5)
    job.segments.append(Segment(B, third, failed, 5, job.checkpoints[2], 0, ()))
    fourth = job.next_request(rate_planck_per_fuel=9, channel_id=b"\xbb" * 32)
    result = JobResult(fourth.job_id, b"216816\n", {"fuel_used": "17", "sig": "0x00"})
    job.segments.append(Segment(B, fourth, result, 17, job.checkpoints[2], 9 * 10**9, ()))
    return job


def a_record(settled: str = OPEN) -> JobFile:
    return JobFile(module_hash(MODULE), "/abs/job.wasm", B, a_job(), settled, (1, 2), (0, 3))


def test_round_trip_keeps_everything() -> None:
    record = a_record()
    back = loads(dumps(record), MODULE)
    assert (back.module_hash, back.module_path, back.requester) == (
        record.module_hash,
        record.module_path,
        record.requester,
    )
    assert (back.settled, back.paid, back.owed) == (OPEN, (1, 2), (0, 3))
    job, was = back.job, record.job
    assert job.base == was.base and job.key == was.key and job.every_fuel == was.every_fuel
    assert job.module == MODULE
    assert job.checkpoints == was.checkpoints
    assert job.segments == was.segments  # requests (with the input), replies, notes
    assert job.result == was.result and not job.settled
    assert dumps(back) == dumps(record)
    # the next segment resumes as the original would
    assert job.resume_spec() == was.resume_spec()
    assert recorded_module_path(dumps(record)) == "/abs/job.wasm"


def test_the_file_holds_the_key_and_the_trail_as_wire_json() -> None:
    body = json.loads(dumps(a_record()))
    assert body["version"] == 1 and body["key"] == bytes(range(32)).hex()
    assert body["input"] == b"\x00\xffinput".hex() and body["task_id"] == str(2**63 + 5)
    assert body["checkpoints"][0]["worker"] == A
    assert body["checkpoints"][0]["checkpoint"]["type"] == "job_checkpoint"
    assert [s["reply"] and s["reply"]["type"] for s in body["segments"]] == [
        None,
        "job_suspended",
        "job_failed",
        "job_result",
    ]
    assert body["segments"][0]["request"]["input"] == ""  # kept once, at the top
    assert body["segments"][0]["request"]["rate_planck_per_fuel"] == "7"
    assert body["segments"][0]["request"]["channel_id"] == "aa" * 32


@pytest.mark.parametrize("cut", [0, 1, 10, 200, -2])
def test_truncated_file_is_malformed(cut: int) -> None:
    data = dumps(a_record())
    with pytest.raises(MalformedMessageError, match="job file"):
        loads(data[:cut], MODULE)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key", "00" * 31),
        ("key", "zz"),
        ("every_fuel", "0"),
        ("every_fuel", 5),
        ("fuel_limit", "-1"),
        ("args", [1]),
        ("checkpoints", [None]),
        ("checkpoints", [{"worker": A, "checkpoint": {"type": "job_suspend", "job_id": "00"}}]),
        ("settled", "maybe"),
        ("segments", [{"worker": A}]),
        ("module_path", None),
    ],
)
def test_malformed_fields_are_refused(field: str, value: Any) -> None:
    body = json.loads(dumps(a_record()))
    body[field] = value
    with pytest.raises(MalformedMessageError, match="job file"):
        loads(json.dumps(body).encode(), MODULE)


def test_a_segment_of_another_job_is_refused() -> None:
    body = json.loads(dumps(a_record()))
    body["segments"][0]["request"]["task_id"] = "1"
    with pytest.raises(MalformedMessageError, match="not a request of this job"):
        loads(json.dumps(body).encode(), MODULE)


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_other_versions_are_refused(version: Any) -> None:
    body = json.loads(dumps(a_record()))
    body["version"] = version
    data = json.dumps(body).encode()
    with pytest.raises(MalformedMessageError, match="version"):
        loads(data, MODULE)
    with pytest.raises(MalformedMessageError, match="version"):
        recorded_module_path(data)


def test_another_module_is_refused() -> None:
    with pytest.raises(UserError, match="not the job's"):
        loads(dumps(a_record()), MODULE + b"\0")


@pytest.mark.parametrize("state", [SETTLING, SETTLED])
def test_a_settled_job_cannot_be_resumed(state: str) -> None:
    back = loads(dumps(a_record(state)), MODULE)
    assert back.job.settled
    with pytest.raises(UserError, match="not run or paid again"):
        back.check_resumable()
    a_record().check_resumable()  # an open one may


def test_job_file_path_is_the_task_id_in_16_hex(tmp_path: Path) -> None:
    assert job_file_path(tmp_path, 255) == tmp_path / "jobs" / "00000000000000ff.json"


# --- the CLI's options ------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(url: str, wait: str = "inclusion") -> Any:
        raise AssertionError(f"the command connected to {url}")

    monkeypatch.setattr(_common, "connect", refuse)
    monkeypatch.setenv("CCNET_KEYSTORE", str(tmp_path / "keystore"))
    monkeypatch.setenv("CCNET_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("CCNET_KEY", raising=False)
    monkeypatch.delenv("CCNET_DHT_BOOTSTRAP", raising=False)


def test_check_checkpoint_options() -> None:
    check_checkpoint_options(VerifyMode.AUTO, None, None)
    for verify, redundancy, proof, named in [
        (VerifyMode.MAJORITY, None, None, "--verify"),
        (VerifyMode.AUTO, 1, None, "--redundancy"),
        (VerifyMode.AUTO, None, "prime_count", "--proof"),
    ]:
        with pytest.raises(UsageError, match=named):
            check_checkpoint_options(verify, redundancy, proof)


@pytest.mark.parametrize(
    "extra",
    [["--verify", "none"], ["--redundancy", "2"], ["--verify", "proof", "--proof", "x"]],
)
def test_run_refuses_verification_options_with_checkpoints(
    tmp_path: Path, extra: list[str]
) -> None:
    module = tmp_path / "job.wasm"
    module.write_bytes(MODULE)
    result = runner.invoke(
        app, ["job", "run", "--key", "//Alice", str(module), "--checkpoint-every", "1000", *extra]
    )
    assert result.exit_code == int(ExitCode.USAGE), result.output
    assert "cannot go with --checkpoint-every" in result.stderr and result.stdout == ""


def test_checkpoint_every_must_be_positive(tmp_path: Path) -> None:
    module = tmp_path / "job.wasm"
    module.write_bytes(MODULE)
    result = runner.invoke(
        app, ["job", "run", "--key", "//Alice", str(module), "--checkpoint-every", "0"]
    )
    assert result.exit_code == int(ExitCode.USAGE)


def test_unfinished_has_its_exit_code() -> None:
    code = exit_code_for(JobUnfinishedError("x", job_file="f"))
    assert code is ExitCode.JOB_UNFINISHED and int(code) == 10


def write_record(tmp_path: Path, record: JobFile) -> Path:
    module = tmp_path / "job.wasm"
    module.write_bytes(MODULE)
    path = tmp_path / "state" / "jobs" / "x.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        dumps(
            JobFile(record.module_hash, str(module), record.requester, record.job, record.settled)
        )
    )
    return path


@pytest.mark.parametrize("state", [SETTLING, SETTLED])
def test_resume_refuses_a_settled_job_before_any_chain(tmp_path: Path, state: str) -> None:
    path = write_record(tmp_path, a_record(state))
    result = runner.invoke(app, ["job", "resume", "--key", "//Alice", str(path)])
    assert result.exit_code == int(ExitCode.USER), result.output
    assert "not run or paid again" in result.stderr


def test_resume_refuses_garbage_and_a_wrong_module(tmp_path: Path) -> None:
    path = write_record(tmp_path, a_record())
    other = tmp_path / "other.wasm"
    other.write_bytes(MODULE + b"\x00\x02\x01x")  # valid: one custom section more
    args = ["job", "resume", "--key", "//Alice", str(path), "--module", str(other)]
    result = runner.invoke(app, args)
    assert result.exit_code == int(ExitCode.USER) and "not the job's" in result.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"version": 1, "module_pa')
    result = runner.invoke(app, ["job", "resume", "--key", "//Alice", str(garbage)])
    assert result.exit_code == int(ExitCode.USER) and "job file" in result.stderr


def test_resume_refuses_another_key(tmp_path: Path) -> None:
    path = write_record(tmp_path, a_record())
    result = runner.invoke(app, ["job", "resume", "--key", "//Alice", str(path)])
    assert result.exit_code == int(ExitCode.USER), result.output
    assert "not by this key" in result.stderr


# --- run, unfinished, resume, refused: the requester SDK faked at its boundary -----------


class FakeChain:
    def close(self) -> None:
        pass


def offer(address: str, price: int) -> Any:
    from typing import cast

    from ccnet.client import CC
    from ccnet.client.net.records import CapabilityRecord
    from ccnet.client.requester.discovery import WorkerOffer
    from ccnet.client.requester.quality import QualityScore, Reputation, Tier

    return WorkerOffer(
        address=address,
        endpoint=f"http://127.0.0.1:1/{address}",
        task_type="wasm",
        price_planck_per_fuel=price,
        min_speed=10**8,
        stake=10 * CC,
        reputation=Reputation(),
        score=QualityScore(0.5, 0.5, 0.5, 0.5, 0.5, 0.5),
        tier=Tier.PROBATION,
        record=cast(CapabilityRecord, None),
    )


class FakeSession:
    """A worker session: announces one checkpoint, then is lost (*finish* False) or
    answers a result; checks the job file holds the checkpoint once announced."""

    def __init__(self, worker: str, finish: bool, path: list[Path]) -> None:
        self.worker = worker
        self.finish = finish
        self.path = path

    async def run_job(self, request: Any, module: bytes, timeout: float, **kw: Any) -> Any:
        from types import SimpleNamespace

        base = request.resume.checkpoint if request.resume is not None else 0
        note = JobCheckpoint(request.job_id, base + 1, 1000 * (base + 1), bytes(32), "tx", 10)
        kw["on_checkpoint"](note)
        (path,) = (p for p in (self.path[0].parent).glob("*.json"))
        trail = json.loads(path.read_text())["checkpoints"]
        assert trail[-1]["checkpoint"]["checkpoint"] == base + 1  # written at once
        if not self.finish:
            raise TimeoutError("lost")
        return SimpleNamespace(reply=JobResult(request.job_id, b"done\n", {}))


class FakeCheckpointRequester:
    offers: list[Any] = []
    finish = False
    gateway_down = False
    settled: list[tuple[str, int]] = []
    jobs_dir: list[Path] = []

    def __init__(self, chain: Any, keypair: Any, **kwargs: Any) -> None:
        self.state_dir = Path(kwargs["state_dir"])
        self.address = str(keypair.ss58_address)
        FakeCheckpointRequester.jobs_dir[:] = [self.state_dir / "jobs" / "x"]

    async def __aenter__(self) -> FakeCheckpointRequester:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def find_workers(self, task_type: str | None = None, **kw: Any) -> list[Any]:
        return list(self.offers)

    def checkpointed_job(self, module: bytes, input: bytes = b"", **kw: Any) -> CheckpointedJob:
        from ccnet.client.jobs.messages import JobRequest

        base = JobRequest(
            job_id=bytes(16),
            module_hash=module_hash(module),
            input=input,
            args=tuple(kw["args"]),
            fuel_limit=kw["fuel_limit"],
            task_id=0xABC,
        )
        return CheckpointedJob(base, module, every_fuel=kw["every_fuel"], key=bytes(32))

    async def run_checkpointed(self, job: CheckpointedJob, workers: Any, **kw: Any) -> Any:
        for worker in workers:
            if job.result is not None:
                break
            session = FakeSession(worker.address, self.finish, self.jobs_dir)
            try:
                await job.run_segment(
                    session,  # type: ignore[arg-type]
                    10.0,
                    rate_planck_per_fuel=worker.price_planck_per_fuel,
                    channel_id=b"\xcc" * 32,
                    reserved=price(job.base.fuel_limit or 0, worker.price_planck_per_fuel),
                )
            except TimeoutError:
                continue
        return job.result

    async def settle_checkpointed(
        self, job: CheckpointedJob, open_image: Any = None, before_paying: Any = None
    ) -> Any:
        from ccnet.client.requester import ImageUnavailableError
        from ccnet.client.requester.migration import CheckpointedOutcome

        assert open_image is not None  # the announcements are checked against the images
        if FakeCheckpointRequester.gateway_down:
            raise ImageUnavailableError("cannot fetch the checkpoint now: gateway down")
        before_paying()  # as the SDK: once the claims are known, before the first payment
        (path,) = self.state_dir.glob("jobs/*.json")
        FakeCheckpointRequester.settled.append(
            (json.loads(path.read_text())["settled"], len(job.segments))
        )
        job.settled = True
        count = len(job.segments)
        return CheckpointedOutcome(
            verified=True,
            reason="",
            output=b"done\n",
            segment_fuel=job.segment_fuel,
            paid=(7,) * count,
            unpaid_reasons=("",) * count,
            checkpoints=tuple(job.checkpoints),
            owed=(0,) * count,
        )

    async def close_channels(self) -> list[Any]:
        return []


def test_unfinished_run_keeps_a_job_file_that_resume_finishes_and_pays_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ccnet.client.requester as requester_pkg

    monkeypatch.setattr(_common, "connect", lambda url, wait="inclusion": FakeChain())
    monkeypatch.setattr(requester_pkg, "Requester", FakeCheckpointRequester)
    FakeCheckpointRequester.offers = [offer(A, 2), offer(B, 3)]
    FakeCheckpointRequester.finish = False
    FakeCheckpointRequester.gateway_down = False
    FakeCheckpointRequester.settled = []
    module = tmp_path / "job.wasm"
    module.write_bytes(MODULE)
    state = tmp_path / "state"
    common = ["--key", "//Alice", "--dht-bootstrap", "127.0.0.1:9", "--state-dir", str(state)]
    run = ["job", "run", *common, str(module), "--checkpoint-every", "1000", "--arg", "5"]
    result = runner.invoke(app, [*run, "--fuel-limit", "100", "--max-cost", "1000planck"])
    assert result.exit_code == int(ExitCode.JOB_UNFINISHED) == 10, result.output
    path = state / "jobs" / f"{0xABC:016x}.json"
    assert str(path) in result.stderr.replace("\n", "") and "ccnet job resume" in result.stderr
    assert result.stdout == "" and FakeCheckpointRequester.settled == []
    assert (path.stat().st_mode & 0o777) == 0o600
    kept = loads(path.read_bytes(), MODULE)
    assert kept.settled == OPEN and [s.worker for s in kept.job.segments] == [A, B]
    assert [s.reply for s in kept.job.segments] == [None, None] and len(kept.job.checkpoints) == 2

    backup = path.read_bytes()  # the attacker's copy, still "open"
    FakeCheckpointRequester.finish = True
    resume = ["job", "resume", "--key", "//Alice", "--dht-bootstrap", "127.0.0.1:9", str(path)]
    result = runner.invoke(app, ["--json", *resume, "--max-cost", "1000planck"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "done\n"
    report = json.loads(result.stderr)
    assert [s["earlier_run"] for s in report["segments"]] == [True, True, False]
    assert [s["reply"] for s in report["segments"]] == ["lost", "lost", "result"]
    assert report["cost_planck"] == 21
    # the earlier segments are settled with the new one, once, marked settling before
    assert FakeCheckpointRequester.settled == [("settling", 3)]
    done = json.loads(path.read_text())
    assert done["settled"] == SETTLED and done["paid"] == ["7", "7", "7"]

    result = runner.invoke(app, resume)
    assert result.exit_code == int(ExitCode.USER) and "not run or paid again" in result.stderr
    assert FakeCheckpointRequester.settled == [("settling", 3)]
    # a copy of the job file from before it was settled, put back: the state dir's
    # marker still refuses it, nothing paid again
    copy = tmp_path / "copy.json"
    copy.write_bytes(backup)
    again = ["job", "resume", "--key", "//Alice", "--dht-bootstrap", "127.0.0.1:9"]
    result = runner.invoke(app, [*again, "--state-dir", str(state), str(copy)])
    assert result.exit_code == int(ExitCode.USER) and "not run or paid again" in result.stderr
    assert FakeCheckpointRequester.settled == [("settling", 3)]
    # without --state-dir, the copy is resumed from the state dir it records: refused
    result = runner.invoke(app, [*again, str(copy)])
    assert result.exit_code == int(ExitCode.USER) and "not run or paid again" in result.stderr
    # from another state dir (no marker there, other channels): refused all the same
    other = tmp_path / "other-state"
    result = runner.invoke(app, [*again, "--state-dir", str(other), str(copy)])
    assert result.exit_code == int(ExitCode.USER), result.output
    assert "resumed from there only" in result.stderr.replace("\n", " ")
    assert FakeCheckpointRequester.settled == [("settling", 3)]


def test_a_result_settled_while_the_gateway_is_down_is_kept_and_settled_later(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The images the result builds on cannot be fetched to check the announcements:
    nothing is paid, the job file is open again (no settling marker), and `job resume`
    settles it once the gateway is back, without running anything."""
    import ccnet.client.requester as requester_pkg

    monkeypatch.setattr(_common, "connect", lambda url, wait="inclusion": FakeChain())
    monkeypatch.setattr(requester_pkg, "Requester", FakeCheckpointRequester)
    FakeCheckpointRequester.offers = [offer(A, 2)]
    FakeCheckpointRequester.finish = True
    FakeCheckpointRequester.gateway_down = True
    FakeCheckpointRequester.settled = []
    module = tmp_path / "job.wasm"
    module.write_bytes(MODULE)
    state = tmp_path / "state"
    common = ["--key", "//Alice", "--dht-bootstrap", "127.0.0.1:9", "--state-dir", str(state)]
    run = ["job", "run", *common, str(module), "--checkpoint-every", "1000"]
    result = runner.invoke(app, [*run, "--fuel-limit", "100", "--max-cost", "1000planck"])
    assert result.exit_code == int(ExitCode.JOB_UNFINISHED), result.output
    assert "gateway down" in result.stderr and "nothing was paid" in result.stderr
    path = state / "jobs" / f"{0xABC:016x}.json"
    assert loads(path.read_bytes(), MODULE).settled == OPEN
    assert not path.with_suffix(".settling").exists()
    assert FakeCheckpointRequester.settled == []

    FakeCheckpointRequester.gateway_down = False
    FakeCheckpointRequester.offers = []  # nothing is run again: the result is in
    resume = ["job", "resume", "--key", "//Alice", "--dht-bootstrap", "127.0.0.1:9", str(path)]
    result = runner.invoke(app, [*resume, "--max-cost", "1000planck"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "done\n"
    assert FakeCheckpointRequester.settled == [("settling", 1)]
    assert json.loads(path.read_text())["settled"] == SETTLED
