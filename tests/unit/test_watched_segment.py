"""The requester's silence watchdog (:meth:`Requester._watched_segment`): a worker that
answers in the very tick it is given up is not lost. The segment is a fake (a unit
test of the watchdog's timing alone; the live tests run real daemons)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from ccnet.client.jobs.messages import JobResult
from ccnet.client.requester import Requester, WorkerSilentError
from ccnet.client.requester.discovery import WorkerOffer


def watchdog(run_segment: Any) -> Requester:
    requester = object.__new__(Requester)
    requester._heard = {}
    requester.run_segment = run_segment  # type: ignore[method-assign]
    return requester


def job() -> Any:
    return SimpleNamespace(_running=("session", b"id"), segments=[])


WORKER = cast(WorkerOffer, SimpleNamespace(address="5Worker"))
ANSWER = JobResult(bytes(16), b"out", {})


async def test_an_answer_that_outlives_the_cancel_is_returned() -> None:
    """The cancel lands as the segment finishes: its answer is kept."""

    async def answers_anyway(job: Any, worker: Any, *, timeout: Any) -> JobResult:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # the answer was already in: it completes
        return ANSWER

    got = await watchdog(answers_anyway)._watched_segment(job(), WORKER, None, 0.05)
    assert got is ANSWER


async def test_a_silent_worker_is_given_up() -> None:
    async def silent(job: Any, worker: Any, *, timeout: Any) -> JobResult:
        await asyncio.sleep(3600)
        return ANSWER

    with pytest.raises(WorkerSilentError):
        await watchdog(silent)._watched_segment(job(), WORKER, None, 0.05)
