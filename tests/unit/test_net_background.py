"""Background tasks: failures are logged, cancellation is quiet, shutdown waits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from ccnet.client.net.background import cancel_and_wait, create_task_with_logging


async def test_a_failing_task_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise RuntimeError("kaput")

    with caplog.at_level(logging.ERROR, logger="ccnet.client.net.background"):
        task = create_task_with_logging(boom(), name="boom")
        await asyncio.wait([task])
        await asyncio.sleep(0)
    assert "background task boom failed" in caplog.text and "kaput" in caplog.text


async def test_registry_tracks_running_tasks_and_cancel_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks: set[asyncio.Task[Any]] = set()
    stopped = []

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.append(True)

    for _ in range(3):
        create_task_with_logging(forever(), tasks=tasks)
    await asyncio.sleep(0)
    assert len(tasks) == 3
    with caplog.at_level(logging.ERROR):
        await cancel_and_wait(list(tasks))
    assert stopped == [True] * 3 and not tasks and caplog.text == ""
    await cancel_and_wait([])
