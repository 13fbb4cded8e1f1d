"""Background asyncio tasks that log their failures (golem's ``create_task_with_logging``).

Every long-lived task of the networking layer (re-announce loops, keepalives, session
hand-offs) starts through :func:`create_task_with_logging`, so an exception never dies
silently as "Task exception was never retrieved", and stops through
:func:`cancel_and_wait`, so shutdown leaves no pending task behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

__all__ = ["cancel_and_wait", "create_task_with_logging"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _log_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.error("background task %s failed", task.get_name(), exc_info=exc)


def create_task_with_logging(
    coro: Coroutine[Any, Any, T],
    *,
    name: str | None = None,
    tasks: set[asyncio.Task[Any]] | None = None,
) -> asyncio.Task[T]:
    """Start *coro* as a task whose unhandled exception is logged (cancellation is not).

    When *tasks* is given, the task is added to it while it runs (the owner's registry,
    which keeps a reference and lets :func:`cancel_and_wait` stop them all).
    """
    task = asyncio.get_running_loop().create_task(coro, name=name)
    task.add_done_callback(_log_failure)
    if tasks is not None:
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    return task


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel *tasks* and wait until each has finished (their errors are logged by the
    done callback, not raised here). The current task is never cancelled."""
    current = asyncio.current_task()
    pending = [t for t in tasks if t is not current and not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
