"""A malicious channel party built on the real :mod:`ccnet.channels` code.

The adversary has a funded account, its own SQLite store and the real state machine
(:class:`~ccnet.channels.Channel`) for every frame it means to be genuine, so it holds
exactly the co-signed states an honest party in its place would hold. On top of that it
drives its end of the transport by hand (it withholds answers, crashes between its
commit and its reply, refuses without a cancel, replays and forges frames) and calls
the chain directly with whatever state it likes (stale closes, premature settles,
challenges that are not newer, another channel's or chain's signatures).

Every extrinsic it submits is kept, failed ones with their fee, so a test can check the
honest party's balance, and the adversary's, to the planck.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ccnet.channels import (
    Channel,
    ChannelParty,
    ChannelState,
    ChannelUpdate,
    Countersign,
    MemoryTransport,
    Message,
    PersistStatus,
    Propose,
    Reject,
    SignedState,
    Transport,
    accept_all,
    decode,
    encode,
    sign_state,
    signing_payload,
)
from ccnet.channels.testing import Ledger, Member
from ccnet.client import Chain, Keypair, Receipt
from ccnet.client.exceptions import DispatchError

__all__ = ["Adversary", "wrapped"]

ANSWER_TIMEOUT = 10.0
"""Seconds the adversary waits for a frame of the honest party (a liveness bound)."""


def wrapped(keypair: Keypair, genesis: bytes, state: ChannelState) -> bytes:
    """*keypair*'s signature over ``<Bytes>`` + payload + ``</Bytes>`` (what polkadot-js
    ``signRaw`` makes): the chain does not take it as a signature of the payload."""
    return bytes(keypair.sign(b"<Bytes>" + signing_payload(genesis, state) + b"</Bytes>"))


class Adversary:
    """The malicious party of a test: *member* gives it a funded key and a store; *chain*
    is the chain it attacks on; *ledger* prices its failed extrinsics."""

    def __init__(self, member: Member, chain: Chain, ledger: Ledger) -> None:
        self.member = member
        self.chain = chain
        self.ledger = ledger
        self.machines: dict[bytes, Channel] = {}
        self.wires: dict[bytes, Transport] = {}
        """Its end of each channel's transport (a memory pair, or a TCP connection)."""
        self.receipts: list[Receipt] = []
        """Its successful extrinsics (besides its party's opens and joins)."""
        self.failed_fees = 0
        """What its refused extrinsics paid, planck."""
        self.sent: list[tuple[bytes, bytes]] = []
        """Every frame it sent: (channel id, frame), for replays."""

    # -- who it is ---------------------------------------------------------------------

    @property
    def party(self) -> ChannelParty:
        """Its chain-backed party, used only to open and join channels."""
        return self.member.party

    @property
    def keypair(self) -> Keypair:
        return self.member.keypair

    @property
    def address(self) -> str:
        return self.member.address

    @property
    def fees(self) -> int:
        """Every fee it paid, planck: its party's extrinsics, its own, its failed ones."""
        receipts = [*self.party.receipts, *self.receipts]
        return sum(r.fee for r in receipts) + self.failed_fees

    def machine(self, channel_id: bytes) -> Channel:
        """Its real state machine of *channel_id*, from its store (policy: accept all)."""
        if channel_id not in self.machines:
            record = self.member.store.load(channel_id)
            self.machines[channel_id] = Channel(record, self.keypair, policy=accept_all)
        return self.machines[channel_id]

    def persist(self, update: ChannelUpdate | None) -> None:
        """Commit *update* to its store, as an honest party would."""
        if update is not None:
            assert self.member.store.update_persisted_channel(update) is PersistStatus.COMPLETED

    def latest(self, channel_id: bytes) -> SignedState:
        return self.machine(channel_id).latest

    def cosigned(self, channel_id: bytes, version: int) -> SignedState:
        """A co-signed state of *channel_id* it holds."""
        (found,) = [s for s in self.member.store.history(channel_id) if s.version == version]
        return found

    # -- the wire ----------------------------------------------------------------------

    async def connect(self, honest: ChannelParty, channel_id: bytes) -> None:
        """Link to *honest* on *channel_id*: the honest party attaches one end of a
        memory transport, the adversary drives the other by hand."""
        ours, theirs = MemoryTransport.pair()
        await honest.attach(channel_id, theirs)
        self.wires[channel_id] = ours

    async def send(self, channel_id: bytes, message: Message) -> None:
        frame = encode(message)
        self.sent.append((channel_id, frame))
        await self.wires[channel_id].send(frame)

    async def send_frame(self, channel_id: bytes, frame: bytes) -> Message:
        """Send a raw *frame* (a replay) and return the honest party's answer."""
        await self.wires[channel_id].send(frame)
        return await self.recv(channel_id)

    async def recv(self, channel_id: bytes) -> Message:
        frame = await asyncio.wait_for(self.wires[channel_id].recv(), ANSWER_TIMEOUT)
        return decode(frame)

    async def crash(self, channel_id: bytes) -> None:
        """Die: the connection drops and the machine in memory is gone (the store stays)."""
        await self.wires.pop(channel_id).close()
        self.machines.pop(channel_id, None)

    # -- as the payer (A) --------------------------------------------------------------

    async def pay(self, channel_id: bytes, amount: int) -> SignedState:
        """A genuine payment: propose, commit, send, take the countersign."""
        machine = self.machine(channel_id)
        message, update = machine.pay(amount)
        self.persist(update)
        await self.send(channel_id, message)
        reply = await self.recv(channel_id)
        assert isinstance(reply, Countersign), reply
        self.persist(machine.on_countersign(reply))
        return machine.latest

    # -- as the payee (B) --------------------------------------------------------------

    async def take(self, channel_id: bytes, *, answer: bool = True) -> Message:
        """Receive the honest payer's next proposal and co-sign it with the real
        machine (committed to the store); send the countersign only if *answer*."""
        machine = self.machine(channel_id)
        message = await self.recv(channel_id)
        assert isinstance(message, Propose), message
        reply, update = machine.on_propose(message)
        self.persist(update)
        if answer:
            await self.send(channel_id, reply)
        return message

    async def refuse(
        self, channel_id: bytes, *, cancel: Callable[[ChannelState], bytes | None] | None = None
    ) -> Propose:
        """Receive the honest payer's next proposal and refuse it with ``policy``. The
        cancel signature is ours of the right cancel state unless *cancel* makes
        another one (or None). Nothing is committed: the adversary keeps the payer's
        signature and forgets its promise."""
        machine = self.machine(channel_id)
        message = await self.recv(channel_id)
        assert isinstance(message, Propose), message
        state = machine.cancel_state(message.version)
        signature = self._sign(state) if cancel is None else cancel(state)
        await self.send(channel_id, Reject(channel_id, message.version, "policy", "no", signature))
        return message

    def _sign(self, state: ChannelState) -> bytes:
        return sign_state(self.keypair, self.chain.genesis_hash, state)

    def countersign_alone(self, proposal: Propose) -> SignedState:
        """Add its own signature to the payer's signed *proposal* (as if it had
        accepted it), without telling anyone."""
        state = proposal.state()
        machine = self.machine(proposal.channel_id)
        mine = self._sign(state)
        signed = SignedState(state).with_signature(machine.me.other, proposal.signature)
        return signed.with_signature(machine.me, mine)

    # -- the chain ---------------------------------------------------------------------

    def _submit(self, submit: Callable[[], Receipt]) -> Receipt:
        receipt = submit()
        self.receipts.append(receipt)
        return receipt

    def refused(self, error: str, submit: Callable[[], Receipt]) -> None:
        """Submit something the chain must refuse with *error*; its fee is kept."""
        try:
            submit()
        except DispatchError as err:
            assert err.name == error, (error, str(err))
            self.failed_fees += self.ledger.failed_fee(err)
            return
        raise AssertionError(f"the chain took what it should refuse with {error}")

    def close(self, channel_id: bytes, signed: SignedState) -> Receipt:
        """``close_unilateral`` with *signed* (any state it holds or made up)."""
        state = signed.state
        return self._submit(
            lambda: self.chain.channels.close_unilateral(
                self.keypair,
                channel_id,
                state.version,
                state.balance_a,
                state.balance_b,
                signed.signature_a,
                signed.signature_b,
            )
        )

    def close_call(self, channel_id: bytes, signed: SignedState) -> Callable[[], Receipt]:
        state = signed.state
        return lambda: self.chain.channels.close_unilateral(
            self.keypair,
            channel_id,
            state.version,
            state.balance_a,
            state.balance_b,
            signed.signature_a,
            signed.signature_b,
        )

    def challenge_call(self, channel_id: bytes, signed: SignedState) -> Callable[[], Receipt]:
        state = signed.state
        assert signed.signature_a is not None and signed.signature_b is not None
        sig_a, sig_b = signed.signature_a, signed.signature_b
        return lambda: self.chain.channels.challenge(
            self.keypair, channel_id, state.version, state.balance_a, state.balance_b, sig_a, sig_b
        )

    def challenge(self, channel_id: bytes, signed: SignedState) -> Receipt:
        """``challenge`` with *signed*."""
        return self._submit(self.challenge_call(channel_id, signed))

    def settle(self, channel_id: bytes) -> Receipt:
        return self._submit(lambda: self.chain.channels.settle(self.keypair, channel_id))

    def settle_call(self, channel_id: bytes) -> Callable[[], Receipt]:
        return lambda: self.chain.channels.settle(self.keypair, channel_id)
