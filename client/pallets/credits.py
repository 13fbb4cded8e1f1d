"""``chain.credits``: stake, unbond and withdraw CC; credit workers and settle debts.

Amounts are planck (1 CC = 10**12). Storage ``Stakes(who)`` -> :class:`StakeInfo`: the
*active* stake backs the account; the part of it *bonded* to open claims (``ClaimBond``
each) and verifier duties (``VerifierBond``) cannot be unstaked; only the *free* active
stake (active - bonded) backs new duties. Errors raise
:class:`~ccnet.client.exceptions.CreditsError` (``StakeBonded``:
:class:`~ccnet.client.exceptions.StakeBondedError`, ``InsufficientStake`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..events import Receipt
from ._base import PalletApi

if TYPE_CHECKING:
    from substrateinterface import Keypair

    from ..chain import Wait

__all__ = ["Credits", "StakeInfo", "Unbonding"]


@dataclass(frozen=True)
class Unbonding:
    """A chunk of stake on its way out."""

    amount: int
    """Planck."""
    unlock_at: int
    """Block from which ``withdraw_unbonded`` releases it."""


@dataclass(frozen=True)
class StakeInfo:
    """``Credits.Stakes(who)``."""

    active: int
    """Active (slashable) stake, planck."""
    bonded: int
    """Part of ``active`` bonded to open claims and verifier duties, planck."""
    unbonding: tuple[Unbonding, ...]

    @property
    def free(self) -> int:
        """Active stake not bonded (what new claims, duties and ``unstake`` may use)."""
        return self.active - self.bonded

    @classmethod
    def from_value(cls, value: Any) -> StakeInfo:
        return cls(
            active=int(value["active"]),
            bonded=int(value.get("bonded", 0)),
            unbonding=tuple(
                Unbonding(int(c["amount"]), int(c["unlock_at"])) for c in value["unbonding"]
            ),
        )


class Credits(PalletApi):
    """Typed calls and reads of the Credits pallet."""

    pallet = "Credits"

    # -- calls -------------------------------------------------------------------------

    def stake(self, keypair: Keypair, amount: int, *, wait: Wait | None = None) -> Receipt:
        """Hold *amount* planck of free balance as active stake. Emits ``Staked``."""
        return self._submit(keypair, "stake", {"amount": amount}, wait=wait)

    def unstake(self, keypair: Keypair, amount: int, *, wait: Wait | None = None) -> Receipt:
        """Start unbonding *amount* planck (``UnbondingPeriod`` blocks) of the free active
        stake. Emits ``Unbonded``; ``InsufficientStake`` if less is active,
        :class:`~ccnet.client.exceptions.StakeBondedError` if the rest is bonded to open
        claims or verifier duties."""
        return self._submit(keypair, "unstake", {"amount": amount}, wait=wait)

    def withdraw_unbonded(self, keypair: Keypair, *, wait: Wait | None = None) -> Receipt:
        """Release every matured unbonding chunk. Emits ``Withdrawn``."""
        return self._submit(keypair, "withdraw_unbonded", wait=wait)

    def credit_worker(
        self, keypair: Keypair, worker: str, amount: int, *, wait: Wait | None = None
    ) -> Receipt:
        """Record that the caller owes *worker* *amount* planck. Emits ``CreditIssued``."""
        return self._submit(
            keypair, "credit_worker", {"worker": worker, "amount": amount}, wait=wait
        )

    def settle_debt(
        self, keypair: Keypair, creditor: str, amount: int, *, wait: Wait | None = None
    ) -> Receipt:
        """Pay *amount* planck of the caller's debt to *creditor*. Emits ``DebtSettled``."""
        return self._submit(
            keypair, "settle_debt", {"creditor": creditor, "amount": amount}, wait=wait
        )

    # -- reads -------------------------------------------------------------------------

    def stake_of(self, address: str) -> StakeInfo | None:
        """The stake of *address*, or None if it never staked."""
        value = self._query("Stakes", [address])
        return None if value is None else StakeInfo.from_value(value)

    def active_stake(self, address: str) -> int:
        """Active stake of *address*, planck (0 if none)."""
        info = self.stake_of(address)
        return info.active if info else 0

    def bonded_stake(self, address: str) -> int:
        """Stake of *address* bonded to open claims and verifier duties, planck."""
        info = self.stake_of(address)
        return info.bonded if info else 0

    def free_stake(self, address: str) -> int:
        """Active stake of *address* not bonded, planck: what backs new claims (each
        bonds ``Tasks.ClaimBond``) and verifier duties (``Disputes.VerifierBond``)."""
        info = self.stake_of(address)
        return info.free if info else 0

    def debt(self, debtor: str, creditor: str) -> int:
        """What *debtor* owes *creditor*, planck."""
        record = self._query("Debts", [debtor, creditor])
        if record is None:
            return 0
        return int(record["amount"]) if isinstance(record, dict) else int(record)

    def total_debt(self, who: str) -> int:
        """Everything *who* owes, planck."""
        return int(self._query("TotalDebt", [who]) or 0)

    def total_receivable(self, who: str) -> int:
        """Everything owed to *who*, planck."""
        return int(self._query("TotalReceivable", [who]) or 0)

    def contributed_fuel(self) -> int:
        """Fuel contributed network-wide (``ContributedFuel``)."""
        return int(self._query("ContributedFuel") or 0)

    def unbonding_period(self) -> int:
        """Blocks between ``unstake`` and ``withdraw_unbonded``."""
        return int(self.constant("UnbondingPeriod"))
