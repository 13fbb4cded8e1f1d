"""ccnet.channels.channel: the pure state machine. Every refused proposal raises its own
error and leaves the machine as it was; only party A proposes; a refusal of a valid
proposal carries the refuser's cancel signature, which the proposer completes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace

import pytest
from substrateinterface import Keypair

from ccnet.channels import (
    BalanceError,
    Channel,
    ChannelParams,
    ChannelRecord,
    ChannelState,
    ChannelStateError,
    Countersign,
    InDoubtError,
    Party,
    Phase,
    Propose,
    ProposerError,
    ProtocolError,
    Reject,
    ReplayError,
    SignatureError,
    SignedState,
    UpdateKind,
    VersionError,
    WrongChainError,
    WrongChannelError,
    sign_state,
    verify_state,
)
from ccnet.channels.channel import MAX_VERSION
from ccnet.channels.state import U128_MAX, sign_close, signing_payload
from ccnet.client import Keys

CC = 10**12
GENESIS = hashlib.sha256(b"genesis").digest()
ALICE, BOB, EVE = Keys.from_uri("//Alice"), Keys.from_uri("//Bob"), Keys.from_uri("//Eve")
PARAMS = ChannelParams(
    hashlib.sha256(b"chan").digest(),
    GENESIS,
    bytes(ALICE.public_key),
    bytes(BOB.public_key),
    10 * CC,
    5 * CC,
)


def machine(me: Party, **kw: object) -> Channel:
    record = ChannelRecord(PARAMS, me, Phase.FUNDED, SignedState(PARAMS.opening_state()))
    return Channel(record, ALICE if me is Party.A else BOB, **kw)  # type: ignore[arg-type]


def pay(payer: Channel, payee: Channel, amount: int) -> None:
    propose, signed = payer.pay(amount)
    assert signed.kind is UpdateKind.SIGNED
    reply, cosigned = payee.on_propose(propose)
    assert isinstance(reply, Countersign) and cosigned is not None
    payer.on_countersign(reply)


def test_payments_from_a_to_b() -> None:
    a, b = machine(Party.A), machine(Party.B)
    pay(a, b, 3 * CC)
    pay(a, b, 1 * CC)
    pay(a, b, 1)
    for side in (a, b):
        assert side.latest.co_signed
        assert side.latest.state == ChannelState(PARAMS.channel_id, 3, 6 * CC - 1, 9 * CC + 1)
        side.latest.verify(PARAMS)
        assert side.pending is None
    assert (a.update_id, b.update_id) == (6, 3)  # a proposal is two updates, an answer one
    assert a.balance == 6 * CC - 1 and b.balance == 9 * CC + 1


def test_only_a_proposes() -> None:
    """Proposer-only channels: B's own proposals are refused locally, and a proposal
    that claims to come from B is a protocol error for A."""
    a, b = machine(Party.A), machine(Party.B)
    for attempt in (
        lambda: b.pay(1),
        lambda: b.propose(9 * CC, 6 * CC),
        lambda: b.pay_many([1, 1]),
    ):
        with pytest.raises(ChannelStateError, match="only party A"):
            attempt()
    assert b.update_id == 0 and b.pending is None and b.retransmission() is None
    before = a.record()
    with pytest.raises(ProposerError) as caught:
        a.on_propose(signed_propose(signer=BOB, balance_a=11 * CC, balance_b=4 * CC))
    assert caught.value.code == "proposer" and a.record() == before


def test_update_ids_grow_by_one() -> None:
    a, b = machine(Party.A), machine(Party.B)
    ids = []
    for _ in range(3):
        propose, signed = a.pay(1)
        reply, cosigned = b.on_propose(propose)
        assert isinstance(reply, Countersign) and cosigned is not None
        ids += [signed.update_id, a.on_countersign(reply).update_id]
        assert cosigned.update_id == len(ids) // 2
    assert ids == [1, 2, 3, 4, 5, 6]


def signed_propose(
    version: int = 1,
    balance_a: int = 9 * CC,
    balance_b: int = 6 * CC,
    *,
    signer: Keypair = ALICE,
    channel_id: bytes = PARAMS.channel_id,
    genesis: bytes = GENESIS,
) -> Propose:
    state = ChannelState(channel_id, version, max(balance_a, 0), max(balance_b, 0))
    signature = sign_state(signer, genesis, state)
    return Propose(channel_id, genesis, version, balance_a, balance_b, signature)


BAD: list[tuple[str, Callable[[], Propose], type[ProtocolError]]] = [
    ("wrong channel", lambda: signed_propose(channel_id=b"\1" * 32), WrongChannelError),
    ("wrong chain", lambda: signed_propose(genesis=b"\2" * 32), WrongChainError),
    ("version gap", lambda: signed_propose(version=2), VersionError),
    ("replay of version 0", lambda: signed_propose(version=0, balance_a=10 * CC), ReplayError),
    ("do not add up", lambda: signed_propose(balance_a=9 * CC, balance_b=5 * CC), BalanceError),
    (
        "overdraw (negative)",
        lambda: signed_propose(balance_a=-1, balance_b=15 * CC + 1),
        BalanceError,
    ),
    (
        "overdraw (above total)",
        lambda: signed_propose(balance_a=16 * CC, balance_b=0),
        BalanceError,
    ),
    ("beyond u128", lambda: signed_propose(balance_a=U128_MAX + 1, balance_b=0), BalanceError),
    ("signed by B itself", lambda: signed_propose(signer=BOB), SignatureError),
    ("signed by an outsider", lambda: signed_propose(signer=EVE), SignatureError),
    (
        "signature of another state",
        lambda: replace(signed_propose(), balance_a=8 * CC, balance_b=7 * CC),
        SignatureError,
    ),
]


@pytest.mark.parametrize(("make", "error"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_proposals_are_refused_without_change(
    make: Callable[[], Propose], error: type[ProtocolError]
) -> None:
    b = machine(Party.B)
    before = b.record()
    with pytest.raises(error) as caught:
        b.on_propose(make())
    assert type(caught.value) is error
    assert b.record() == before
    reject = b.reject_for(caught.value, 1)
    assert reject.code == error.code


def test_replays_after_updates() -> None:
    a, b = machine(Party.A), machine(Party.B)
    first, _ = a.pay(1 * CC)
    reply, _ = b.on_propose(first)
    assert isinstance(reply, Countersign)
    a.on_countersign(reply)
    pay(a, b, 1 * CC)
    before = b.record()
    with pytest.raises(ReplayError):
        b.on_propose(first)  # version 1 again, now behind
    assert b.record() == before
    # The latest proposal again is a retransmission: same countersign, no update.
    latest = a.latest
    assert latest.signature_a is not None and latest.signature_b is not None
    again = Propose(
        PARAMS.channel_id,
        GENESIS,
        latest.version,
        latest.state.balance_a,
        latest.state.balance_b,
        latest.signature_a,
    )
    reply, update = b.on_propose(again)
    assert update is None and reply == Countersign(PARAMS.channel_id, 2, latest.signature_b)
    # A different state at the latest version is a replay, not a retransmission.
    with pytest.raises(ReplayError):
        b.on_propose(signed_propose(version=2, balance_a=7 * CC, balance_b=8 * CC))
    assert b.record() == before
    # A countersignature for nothing outstanding is refused too.
    with pytest.raises(ReplayError):
        a.on_countersign(reply)


def test_countersign_with_bad_signature() -> None:
    a, b = machine(Party.A), machine(Party.B)
    propose, _ = a.pay(1)
    reply, _ = b.on_propose(propose)
    assert isinstance(reply, Countersign)
    before = a.record()
    with pytest.raises(SignatureError):
        a.on_countersign(replace(reply, signature=propose.signature))
    with pytest.raises(WrongChannelError):
        a.on_countersign(replace(reply, channel_id=b"\3" * 32))
    assert a.record() == before
    a.on_countersign(reply)


def test_policy_refusal_is_cancelled_by_a_co_signed_cancel_state() -> None:
    """B refuses A's valid proposal of version 2 (it takes money from B) and signs the
    cancel state: version 3 with B's latest balances. A completes it; on chain it would
    supersede the refused version 2 that B holds A's signature of."""
    a, b = machine(Party.A), machine(Party.B)
    pay(a, b, 1 * CC)
    before = a.latest.state
    propose, _ = a.propose(12 * CC, 3 * CC)
    reject, update = b.on_propose(propose)
    assert isinstance(reject, Reject) and reject.code == "policy"
    assert update is not None and update.kind is UpdateKind.CANCELLED and update.version == 3
    assert b.cancelled == 3 and b.next_version == 4 and b.latest.version == 1
    cancel = ChannelState(PARAMS.channel_id, 3, before.balance_a, before.balance_b)
    assert reject.cancel_signature is not None
    assert verify_state(bytes(BOB.public_key), GENESIS, cancel, reject.cancel_signature)
    cosigned, rejection = a.on_reject(reject)
    assert cosigned is not None and cosigned.kind is UpdateKind.COSIGNED
    assert cosigned.signed == a.latest and a.latest.state == cancel and a.latest.co_signed
    a.latest.verify(PARAMS)
    assert rejection is not None and rejection.code == "policy" and rejection.cancel_version == 3
    assert a.pending is None and a.next_version == 4 and a.failed is None
    # The refused proposal re-sent gets the same answer (a fresh cancel signature of the
    # same state) without a change; the cancel version itself, or older, is a replay.
    again, update = b.on_propose(propose)
    assert isinstance(again, Reject) and update is None and again.code == "policy"
    assert again.cancel_signature is not None
    assert verify_state(bytes(BOB.public_key), GENESIS, cancel, again.cancel_signature)
    with pytest.raises(ReplayError):
        b.on_propose(signed_propose(version=3, balance_a=8 * CC, balance_b=7 * CC))
    # A late duplicate of the reject changes nothing on A.
    assert a.on_reject(reject) == (None, None)
    pay(a, b, 1)
    assert a.latest.version == b.latest.version == 4
    assert a.latest.state.balance_b == b.balance == 6 * CC + 1


BAD_CANCELS: list[tuple[str, Callable[[Reject, ChannelState], bytes | None]]] = [
    ("no cancel", lambda reject, cancel: None),
    ("signed by A's own key", lambda reject, cancel: sign_state(ALICE, GENESIS, cancel)),
    ("signed by an outsider", lambda reject, cancel: sign_state(EVE, GENESIS, cancel)),
    (
        "cancel of other balances",
        lambda reject, cancel: sign_state(
            BOB,
            GENESIS,
            replace(cancel, balance_a=cancel.balance_a - 1, balance_b=cancel.balance_b + 1),
        ),
    ),
    (
        "cancel at the refused version",
        lambda reject, cancel: sign_state(
            BOB, GENESIS, replace(cancel, version=cancel.version - 1)
        ),
    ),
    ("a close signature", lambda reject, cancel: sign_close(BOB, GENESIS, cancel)),
    (
        "<Bytes>-wrapped",
        lambda reject, cancel: bytes(
            BOB.sign(b"<Bytes>" + signing_payload(GENESIS, cancel) + b"</Bytes>")
        ),
    ),
    ("another chain", lambda reject, cancel: sign_state(BOB, b"\2" * 32, cancel)),
]


@pytest.mark.parametrize("make", [c[1] for c in BAD_CANCELS], ids=[c[0] for c in BAD_CANCELS])
def test_a_refusal_without_a_valid_cancel_leaves_the_proposal_outstanding(
    make: Callable[[Reject, ChannelState], bytes | None],
) -> None:
    """B refuses but its cancel is missing or does not verify: A keeps its proposal as
    outstanding (B may hold it and register it) and stops proposing."""
    a, b = machine(Party.A), machine(Party.B, policy=lambda *_: False)
    propose, _ = a.pay(2 * CC)
    reject, _ = b.on_propose(propose)
    assert isinstance(reject, Reject) and reject.cancel_signature is not None
    cancel = ChannelState(PARAMS.channel_id, 2, 10 * CC, 5 * CC)
    forged = replace(reject, cancel_signature=make(reject, cancel))
    update, rejection = a.on_reject(forged)
    assert update is None and rejection is not None and rejection.cancel_version is None
    assert a.failed is not None and a.pending is not None and a.latest.version == 0
    with pytest.raises(ChannelStateError):
        a.pay(1)


def test_invalid_rejection_fails_the_proposer() -> None:
    a = machine(Party.A)
    propose, _ = a.pay(1)
    update, rejection = a.on_reject(Reject(PARAMS.channel_id, 1, "signature", "bad"))
    assert update is None and rejection is not None and rejection.code == "signature"
    assert a.failed is not None and a.pending is not None  # still in doubt
    with pytest.raises(ChannelStateError):
        a.pay(1)


def test_one_proposal_at_a_time() -> None:
    a = machine(Party.A)
    a.pay(1)
    with pytest.raises(InDoubtError):
        a.pay(1)
    assert a.retransmission() is not None


def test_the_last_version_is_kept_for_a_cancel() -> None:
    """A proposal never uses the last version: its refusal must still be cancellable."""
    record = ChannelRecord(
        PARAMS,
        Party.A,
        Phase.FUNDED,
        SignedState(PARAMS.opening_state()),
        cancelled=MAX_VERSION - 1,
    )
    a = Channel(record, ALICE)
    with pytest.raises(VersionError):
        a.pay(1)


def test_payments_are_checked_locally() -> None:
    a = machine(Party.A)
    for amount in (0, -1, 10 * CC + 1):
        with pytest.raises(BalanceError):
            a.pay(amount)
    with pytest.raises(BalanceError):
        a.propose(1, 1)
    assert a.pending is None and a.update_id == 0


def test_updates_need_a_funded_channel() -> None:
    record = ChannelRecord(PARAMS, Party.A, Phase.OPENING, SignedState(PARAMS.opening_state()))
    a = Channel(record, ALICE)
    with pytest.raises(ChannelStateError):
        a.pay(1)
    b = Channel(replace(record, me=Party.B), BOB)
    with pytest.raises(ProtocolError) as caught:
        b.on_propose(signed_propose())
    assert type(caught.value) is ProtocolError
    update = b.set_phase(Phase.FUNDED)
    assert update is not None and update.phase is Phase.FUNDED
    assert b.set_phase(Phase.FUNDED) is None


def test_keypair_must_match() -> None:
    record = ChannelRecord(PARAMS, Party.A, Phase.FUNDED, SignedState(PARAMS.opening_state()))
    with pytest.raises(ValueError):
        Channel(record, BOB)
