"""From the events of an included extrinsic to a :class:`Receipt` or a :class:`DispatchError`.

Pure functions: the metadata lookup is passed in, so unit tests can feed fake events.
``System.ExtrinsicFailed`` carries ``dispatch_error``, decoded by scalecodec as e.g.
``{"Module": {"index": 12, "error": "0x09000000"}}`` (pallet index, first byte = error
index), ``"BadOrigin"``, or ``{"Token": "FundsUnavailable"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .events import ChainEvent, Receipt, fee_of
from .exceptions import DispatchError, dispatch_error

__all__ = ["ErrorLookup", "build_receipt", "error_from_dispatch"]

ErrorLookup = Callable[[int, int], tuple[str, str, str]]
"""(pallet index, error index) -> (pallet name, error name, docs)."""


def _module_indices(module: Any) -> tuple[int, int]:
    if isinstance(module, list | tuple):
        index, error = module[0], module[1]
    else:
        index, error = module["index"], module["error"]
    if isinstance(error, str):  # [u8; 4] as 0x hex: the first byte is the error index
        error = int(error[2:4], 16)
    elif isinstance(error, list | tuple | bytes):
        error = error[0]
    return int(index), int(error)


def error_from_dispatch(
    raw: Any,
    lookup: ErrorLookup,
    *,
    block_hash: str | None = None,
    extrinsic_hash: str | None = None,
) -> DispatchError:
    """The :class:`DispatchError` (a pallet subclass for module errors) for a decoded
    ``DispatchError`` value *raw*."""
    where = {"block_hash": block_hash, "extrinsic_hash": extrinsic_hash}
    if isinstance(raw, Mapping) and "Module" in raw:
        pallet, name, docs = lookup(*_module_indices(raw["Module"]))
        return dispatch_error(pallet, name, docs, **where)
    if isinstance(raw, str):
        return dispatch_error("Dispatch", raw, "", **where)
    if isinstance(raw, Mapping) and len(raw) == 1:
        ((kind, detail),) = raw.items()
        if detail is None:
            return dispatch_error("Dispatch", str(kind), "", **where)
        return dispatch_error(str(kind), str(detail), "", **where)
    return dispatch_error("Dispatch", "Unknown", repr(raw), **where)


def build_receipt(
    events: list[ChainEvent],
    lookup: ErrorLookup,
    *,
    block_hash: str,
    extrinsic_hash: str,
    finalized: bool = False,
) -> Receipt:
    """The :class:`Receipt` of an extrinsic that triggered *events*; raises its
    :class:`DispatchError` if ``System.ExtrinsicFailed`` is among them."""
    for event in events:
        if (event.pallet, event.name) == ("System", "ExtrinsicFailed"):
            raw = event.attributes.get("dispatch_error", event.attributes.get("0"))
            raise error_from_dispatch(
                raw, lookup, block_hash=block_hash, extrinsic_hash=extrinsic_hash
            )
    return Receipt(
        block_hash=block_hash,
        extrinsic_hash=extrinsic_hash,
        events=events,
        fee=fee_of(events),
        finalized=finalized,
    )
