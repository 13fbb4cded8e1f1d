"""What every typed pallet wrapper shares: its name, signed calls and storage reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..events import Receipt

if TYPE_CHECKING:
    from substrateinterface import Keypair

    from ..chain import Chain, Wait

__all__ = ["PalletApi", "variant"]


class PalletApi:
    """Base of ``chain.credits`` etc.: ``_submit`` and ``_query`` bound to one pallet."""

    pallet: ClassVar[str]
    """Pallet name in the runtime metadata."""

    def __init__(self, chain: Chain) -> None:
        self._chain = chain

    @property
    def chain(self) -> Chain:
        return self._chain

    def _submit(
        self,
        keypair: Keypair,
        call: str,
        params: Mapping[str, Any] | None = None,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        return self._chain.submit(keypair, self.pallet, call, params, wait=wait)

    def _query(self, storage: str, params: Sequence[Any] = ()) -> Any | None:
        return self._chain.query(self.pallet, storage, params)

    def _query_map(self, storage: str, params: Sequence[Any] = ()) -> list[tuple[Any, Any]]:
        return self._chain.query_map(self.pallet, storage, params)

    def constant(self, name: str) -> Any:
        """The decoded runtime constant *name* of this pallet."""
        return self._chain.constant(self.pallet, name)


def variant(value: Any) -> tuple[str, Any]:
    """A decoded enum as (variant name, fields or None): scalecodec gives a unit variant
    as ``"Open"`` and one with fields as ``{"Completed": {...}}``."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, Mapping) and len(value) == 1:
        ((name, fields),) = value.items()
        return str(name), fields
    raise TypeError(f"not a decoded enum: {value!r}")
