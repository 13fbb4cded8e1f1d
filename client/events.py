"""Decoded chain events and the receipt of a submitted extrinsic.

Values are as substrate-interface decodes them: AccountId as SS58 ``str``, H256 as
``'0x..'`` ``str``, integers (planck, block numbers, ids) as ``int``, ``Vec<u8>`` as text
if it is UTF-8 else ``'0x..'`` (see :func:`ccnet.client.codec.as_bytes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChainEvent", "Receipt", "event_from_record"]


@dataclass(frozen=True)
class ChainEvent:
    """One runtime event, e.g. ``ChainEvent("Tasks", "TaskPosted", {"task_id": 3, ...})``."""

    pallet: str
    """Pallet name as in the metadata (``Channels``)."""
    name: str
    """Event name (``ChannelOpened``)."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """Named fields; an event with unnamed fields gets keys ``"0"``, ``"1"``, ..."""
    block_number: int | None = None
    """Block that emitted it (set by :meth:`Chain.watch_events`; None in a receipt)."""
    block_hash: str | None = None
    """Hash (0x hex) of that block, when known."""
    extrinsic_index: int | None = None
    """Index of the extrinsic in its block, None for block initialisation/finalisation."""

    @property
    def qualname(self) -> str:
        """``"Pallet.Name"``."""
        return f"{self.pallet}.{self.name}"

    def __getitem__(self, key: str) -> Any:
        return self.attributes[key]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (``pallet``, ``name``, ``attributes``, block fields)."""
        return {
            "pallet": self.pallet,
            "name": self.name,
            "attributes": self.attributes,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "extrinsic_index": self.extrinsic_index,
        }


def _attributes(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None:
        return {}
    if isinstance(raw, list | tuple):
        return {str(i): value for i, value in enumerate(raw)}
    return {"0": raw}


def event_from_record(
    record: Mapping[str, Any], *, block_number: int | None = None, block_hash: str | None = None
) -> ChainEvent:
    """A :class:`ChainEvent` from a decoded ``EventRecord`` value (substrate-interface's
    ``event.value``: ``module_id``, ``event_id``, ``attributes``, ``extrinsic_idx``)."""
    return ChainEvent(
        pallet=str(record["module_id"]),
        name=str(record["event_id"]),
        attributes=_attributes(record.get("attributes")),
        block_number=block_number,
        block_hash=block_hash,
        extrinsic_index=record.get("extrinsic_idx"),
    )


@dataclass(frozen=True)
class Receipt:
    """A successful extrinsic: where it landed, what it emitted and what it cost."""

    block_hash: str
    """Block (0x hex) that includes it (the finalized one when waited for finality)."""
    extrinsic_hash: str
    """Blake2-256 of the encoded extrinsic, 0x hex."""
    events: list[ChainEvent]
    """The events it triggered, in order (including System.ExtrinsicSuccess)."""
    fee: int
    """Fee paid, planck (from TransactionPayment.TransactionFeePaid; 0 if absent)."""
    finalized: bool = False
    """Whether the block was finalized when the receipt was made."""

    def find(self, pallet: str, name: str) -> ChainEvent | None:
        """The first *pallet.name* event, or None."""
        return next(iter(self.find_all(pallet, name)), None)

    def find_all(self, pallet: str, name: str | None = None) -> list[ChainEvent]:
        """Every event of *pallet* (named *name*, if given), in order."""
        return [e for e in self.events if e.pallet == pallet and name in (None, e.name)]

    def expect(self, pallet: str, name: str) -> ChainEvent:
        """The first *pallet.name* event; :class:`LookupError` if it was not emitted."""
        found = self.find(pallet, name)
        if found is None:
            seen = ", ".join(e.qualname for e in self.events)
            raise LookupError(f"no {pallet}.{name} event in receipt (got: {seen})")
        return found

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "block_hash": self.block_hash,
            "extrinsic_hash": self.extrinsic_hash,
            "fee": self.fee,
            "finalized": self.finalized,
            "events": [e.as_dict() for e in self.events],
        }


def fee_of(events: Iterable[ChainEvent]) -> int:
    """The ``actual_fee`` of the TransactionFeePaid event among *events* (0 if none)."""
    for event in events:
        if (event.pallet, event.name) == ("TransactionPayment", "TransactionFeePaid"):
            return int(event.attributes.get("actual_fee", 0))
    return 0
