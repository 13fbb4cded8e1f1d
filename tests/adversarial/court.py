"""A harness for attacks on the court (pallets Credits, Tasks and Disputes) of the real
runtime, on a private Chopsticks chain whose blocks the test builds by hand.

- :class:`Court` signs raw calls (``pallet``, ``call``, params as the metadata names
  them) of any number of :class:`Actor` keys and builds **one** block that applies them
  in order (:meth:`Court.block`; Chopsticks' ``dev_newBlock`` with ``transactions``),
  so a test decides exactly which block each extrinsic lands in (a reveal at the last
  allowed block, a challenge before a draw). Empty blocks step through the windows
  (:meth:`Court.skip_to`); :meth:`Court.rewind` abandons blocks (``dev_setHead``) to
  build other versions of them.
- It keeps every event of the blocks it built (``Court.events``) and every fee each
  account paid (``Court.fees``, planck, from ``TransactionFeePaid``, failed calls
  included), so a test can check balances to the planck: :meth:`Court.expect`
  compares an actor's free balance (minus its fees), its holds by reason and its stake
  ledger with what the protocol says it must hold.
- The commitments the court takes (:func:`result_commitment`, :func:`vote_commitment`,
  :func:`expected_commitment`, :func:`auditor_key`) are blake2b-256 of their SCALE
  encoding, as ``pallets/tasks`` and ``pallets/disputes`` define them and
  ``tests/vectors/court.json`` pins them.
- :func:`draw_model` recomputes a verifier draw from public chain state: the seed of
  ``pallet-insecure-randomness-collective-flip`` (``RandomMaterial`` of the draw's
  block, :func:`randomness`) and the partial Fisher-Yates shuffle of
  ``pallets/disputes`` (:func:`shuffle`).

Accounts are fresh keys whose balances are written into the chain state
(``dev_setStorage``): no funder's nonce is shared with other chains of the process.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ccnet.client import CC, Chain, Keypair, Keys, Receipt
from ccnet.client.codec import bounded, encode_scale
from ccnet.client.dispatch import build_receipt
from ccnet.client.events import ChainEvent
from ccnet.client.exceptions import DispatchError
from ccnet.client.signing import public_key_of

__all__ = [
    "FUND",
    "Actor",
    "Call",
    "Court",
    "ForkPoint",
    "Holdings",
    "Result",
    "Vote",
    "auditor_key",
    "challenge",
    "draw_model",
    "expected_commitment",
    "opened",
    "outcome_names",
    "reveal_expected",
    "post",
    "public_key",
    "randomness",
    "result_commitment",
    "salt",
    "shuffle",
    "succeeded",
    "task_ids",
    "vote_commitment",
]

FUND = 1_000 * CC
"""Free balance each actor starts with, planck."""

RESULT_DOMAIN = b"ccnet:rcommit:v1"
VOTE_DOMAIN = b"ccnet:vcommit:v1"
EXPECTED_DOMAIN = b"ccnet:expectd:v1"
AUDITOR_DOMAIN = b"ccnet:auditor:v1"
DRAW_SUBJECT = b"ccnet/disputes"
"""The subject ``pallets/disputes`` asks the randomness source about (with the id)."""
RANDOM_MATERIAL_LEN = 81
"""Block hashes ``pallet-insecure-randomness-collective-flip`` keeps."""


def _blake2(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def public_key(address: str) -> bytes:
    """The 32-byte account id of an SS58 *address*."""
    return public_key_of(address)


def salt() -> bytes:
    """A fresh secret 32-byte salt."""
    return secrets.token_bytes(32)


def result_commitment(
    task_id: int, worker: str, result_hash: bytes, fuel: int, salt: bytes
) -> bytes:
    """``Tasks.submit_result``'s commitment: blake2b-256 of SCALE(``ccnet:rcommit:v1``,
    task u64, worker AccountId32, hash H256, fuel u64, salt [u8; 32])."""
    encoded = encode_scale(
        "([u8; 16], u64, [u8; 32], H256, u64, [u8; 32])",
        (
            _hex(RESULT_DOMAIN),
            task_id,
            _hex(public_key(worker)),
            _hex(result_hash),
            fuel,
            _hex(salt),
        ),
    )
    return _blake2(encoded)


def vote_commitment(dispute_id: int, verifier: str, result_hash: bytes, salt: bytes) -> bytes:
    """``Disputes.commit_vote``'s commitment: blake2b-256 of SCALE(``ccnet:vcommit:v1``,
    dispute u64, verifier, hash, salt)."""
    encoded = encode_scale(
        "([u8; 16], u64, [u8; 32], H256, [u8; 32])",
        (_hex(VOTE_DOMAIN), dispute_id, _hex(public_key(verifier)), _hex(result_hash), _hex(salt)),
    )
    return _blake2(encoded)


def expected_commitment(task_id: int, worker: str, result_hash: bytes, salt: bytes) -> bytes:
    """``Disputes.challenge``'s ``expected``: blake2b-256 of SCALE(``ccnet:expectd:v1``,
    task u64, the accused worker, the expected hash, salt)."""
    encoded = encode_scale(
        "([u8; 16], u64, [u8; 32], H256, [u8; 32])",
        (_hex(EXPECTED_DOMAIN), task_id, _hex(public_key(worker)), _hex(result_hash), _hex(salt)),
    )
    return _blake2(encoded)


def auditor_key(auditor: str, salt: bytes) -> bytes:
    """An auditor key (``Disputes.register_auditor``): blake2b-256 of
    SCALE(``ccnet:auditor:v1``, account, salt)."""
    encoded = encode_scale(
        "([u8; 16], [u8; 32], [u8; 32])",
        (_hex(AUDITOR_DOMAIN), _hex(public_key(auditor)), _hex(salt)),
    )
    return _blake2(encoded)


def _triplet_mix(items: Sequence[int]) -> int:
    """``safe_mix::TripletMix`` over 256-bit values (bitwise majority, in a tree of
    threes)."""
    depth_max = 17
    accum = [[0, 0, 0] for _ in range(depth_max)]
    result = 0
    for i, seed in enumerate(items):
        accum[0][i % 3] = seed
        index = i
        for depth in range(depth_max):
            if index % 3 != 2:
                break
            index //= 3
            a, b, c = accum[depth]
            result = (a & b) | (b & c) | (a & c)
            if depth == depth_max - 1:
                break
            accum[depth + 1][index % 3] = result
    return result


def randomness(material: Sequence[bytes], block_number: int, subject: bytes) -> bytes:
    """``RandomnessCollectiveFlip::random(subject)`` in block *block_number* whose
    ``RandomMaterial`` is *material* (the hashes of the parents of the last 81 blocks).
    The compact length prefix: *subject* is hashed as a ``&[u8]``."""
    if not material:
        return bytes(32)
    index = (block_number - 1) % RANDOM_MATERIAL_LEN
    series = [material[(index + k) % len(material)] for k in range(RANDOM_MATERIAL_LEN)]
    prefix = encode_scale("Bytes", _hex(subject))
    hashes = [int.from_bytes(_blake2(bytes([i]) + prefix + h), "big") for i, h in enumerate(series)]
    return _triplet_mix(hashes).to_bytes(32, "big")


def draw_model(
    material: Sequence[bytes], block_number: int, dispute_id: int, pool: Sequence[str], count: int
) -> tuple[bytes, list[str]]:
    """The seed and the panel ``Disputes`` draws for *dispute_id* in block *block_number*
    from the eligible *pool* (registry order), given that block's ``RandomMaterial``."""
    seed = randomness(material, block_number, DRAW_SUBJECT + dispute_id.to_bytes(8, "little"))
    return seed, shuffle(seed, dispute_id, pool, count)


def shuffle(seed: bytes, dispute_id: int, pool: Sequence[str], count: int) -> list[str]:
    """The panel a draw *seed* makes of *pool*: the partial Fisher-Yates shuffle of
    ``pallets/disputes``, round ``r`` picking by blake2b-256(seed, dispute id u64, r u32)."""
    panel = list(pool)
    wanted = min(count, len(panel))
    for round_ in range(wanted):
        draw = _blake2(seed + dispute_id.to_bytes(8, "little") + round_.to_bytes(4, "little"))
        span = len(panel) - round_
        pick = round_ + int.from_bytes(draw[:8], "little") % span
        panel[round_], panel[pick] = panel[pick], panel[round_]
    return panel[:wanted]


@dataclass(frozen=True)
class Actor:
    """A party of an attack: its *name* (for messages) and its own sr25519 key."""

    name: str
    keypair: Keypair

    @property
    def address(self) -> str:
        return str(self.keypair.ss58_address)

    def __repr__(self) -> str:
        return f"Actor({self.name})"


@dataclass(frozen=True)
class Call:
    """One signed call: *actor* calls *pallet*.*call* with *params*."""

    actor: Actor
    pallet: str
    call: str
    params: Mapping[str, Any] = field(default_factory=dict)


Outcome = Receipt | DispatchError


@dataclass(frozen=True)
class ForkPoint:
    """A block to come back to, with the fees and nonces counted up to it."""

    block_hash: str
    number: int
    fees: dict[str, int]
    nonces: dict[str, int]


@dataclass(frozen=True)
class Holdings:
    """What an account holds, planck: free, reserved (the sum of its holds), its holds
    by reason (``"Credits.Stake"``) and its stake ledger (active, bonded, unbonding)."""

    free: int
    reserved: int
    holds: dict[str, int]
    stake: tuple[int, int, int]


class Court:
    """Signed calls into hand-built blocks of a Chopsticks chain in ``Manual`` mode (see
    the module docs). One per test: its nonces and fee book start from the chain state
    it is given."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.fees: dict[str, int] = {}
        """Fees each address paid in the blocks built so far, planck."""
        self.events: dict[int, list[ChainEvent]] = {}
        """Events of each block built, by block number."""
        self._nonces: dict[str, int] = {}
        self.issuance_at_start = self.issuance()

    # -- accounts ----------------------------------------------------------------------

    def actors(self, *names: str, free: int = FUND) -> list[Actor]:
        """Fresh actors, each with *free* planck written into the chain state."""
        made = [Actor(name, Keys.generate()[0]) for name in names]
        accounts = [
            [[a.address], {"nonce": 0, "providers": 1, "data": {"free": free}}] for a in made
        ]
        self.chain.rpc("dev_setStorage", [{"System": {"Account": accounts}}])
        for actor in made:
            self._nonces[actor.address] = 0
        return made

    def sudo_key(self) -> Actor:
        """The sudo key of the development chain (``//Alice``)."""
        return Actor("sudo", Keys.from_uri("//Alice"))

    # -- blocks ------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """Number of the best block."""
        return self.chain.block_number()

    def block(self, *calls: Call) -> list[Outcome]:
        """Build one block that applies *calls* in this order; the receipt or the
        dispatch error of each, in order."""
        return self._run([(c.actor, self._compose(c.pallet, c.call, c.params)) for c in calls])

    def ok(self, actor: Actor, pallet: str, call: str, **params: Any) -> Receipt:
        """One successful call in a block of its own."""
        (outcome,) = self.block(Call(actor, pallet, call, params))
        if isinstance(outcome, DispatchError):
            raise AssertionError(f"{actor.name}: {pallet}.{call} failed: {outcome}")
        return outcome

    def fails(self, actor: Actor, pallet: str, call: str, **params: Any) -> str:
        """One call in a block of its own that must fail; its error name."""
        (outcome,) = self.block(Call(actor, pallet, call, params))
        if not isinstance(outcome, DispatchError):
            raise AssertionError(f"{actor.name}: {pallet}.{call} succeeded")
        return outcome.name

    def all_ok(self, *calls: Call) -> list[Receipt]:
        """:meth:`block` whose every call must succeed."""
        receipts = []
        for c, outcome in zip(calls, self.block(*calls), strict=True):
            if isinstance(outcome, DispatchError):
                raise AssertionError(f"{c.actor.name}: {c.pallet}.{c.call} failed: {outcome}")
            receipts.append(outcome)
        return receipts

    def fork_point(self) -> ForkPoint:
        """The best block and this court's books at it, for :meth:`rewind`."""
        return ForkPoint(self.chain.block_hash(), self.head, dict(self.fees), dict(self._nonces))

    def rewind(self, point: ForkPoint) -> None:
        """Make *point*'s block the best block again (``dev_setHead``): the blocks built
        since are abandoned, with their fees and nonces."""
        self.chain.rpc("dev_setHead", [point.block_hash])
        self.fees = dict(point.fees)
        self._nonces = dict(point.nonces)
        self.events = {n: e for n, e in self.events.items() if n <= point.number}

    def calls_in(self, number: int, pallet: str, call: str) -> list[dict[str, Any]]:
        """The arguments (by name) of every *pallet*.*call* extrinsic in block *number*:
        what anyone watching the chain sees."""
        block_hash = self.chain.block_hash(number)
        with self.chain.lock:
            block = self.chain.api.get_block(block_hash=block_hash)
        found = []
        for extrinsic in (block or {}).get("extrinsics", []):
            value = extrinsic.value["call"]
            if (value["call_module"], value["call_function"]) == (pallet, call):
                found.append({a["name"]: a["value"] for a in value["call_args"]})
        return found

    def skip_to(self, number: int) -> None:
        """Build empty blocks until the best block is *number*."""
        while self.head < number:
            self._build()

    def sudo(self, pallet: str, call: str, **params: Any) -> Receipt:
        """*pallet*.*call* as Root, through ``Sudo.sudo`` signed by the sudo key, in a
        block of its own."""
        key = self.sudo_key()
        with self.chain.lock:
            inner = self.chain.api.compose_call(
                call_module=pallet, call_function=call, call_params=params
            )
        (outcome,) = self._run([(key, self._compose("Sudo", "sudo", {"call": inner}))])
        if isinstance(outcome, DispatchError):
            raise AssertionError(f"sudo {pallet}.{call} failed: {outcome}")
        sudid = outcome.expect("Sudo", "Sudid")
        assert "Ok" in str(sudid["sudo_result"]), sudid
        return outcome

    def _compose(self, pallet: str, call: str, params: Mapping[str, Any]) -> Any:
        with self.chain.lock:
            return self.chain.api.compose_call(
                call_module=pallet, call_function=call, call_params=dict(params)
            )

    def _run(self, composed: Sequence[tuple[Actor, Any]]) -> list[Outcome]:
        signed = [self._sign(actor, call) for actor, call in composed]
        block_hash, number = self._build([data for data, _ in signed])
        # Where each extrinsic landed: its index among the block's extrinsics.
        block = self.chain.rpc("chain_getBlock", [block_hash])["block"]
        index = {
            "0x" + _blake2(bytes.fromhex(raw[2:])).hex(): i
            for i, raw in enumerate(block["extrinsics"])
        }
        outcomes: list[Outcome] = []
        for _, extrinsic_hash in signed:
            if extrinsic_hash not in index:
                raise AssertionError(f"extrinsic {extrinsic_hash} is not in block {number}")
            own = [e for e in self.events[number] if e.extrinsic_index == index[extrinsic_hash]]
            try:
                outcomes.append(
                    build_receipt(
                        own, self._error_name, block_hash=block_hash, extrinsic_hash=extrinsic_hash
                    )
                )
            except DispatchError as err:
                outcomes.append(err)
        return outcomes

    def _sign(self, actor: Actor, call: Any) -> tuple[str, str]:
        """The signed extrinsic (hex) of *call* with *actor*'s next nonce, and its hash."""
        address = actor.address
        if address not in self._nonces:
            account = self.chain.query("System", "Account", [address])
            self._nonces[address] = int(account["nonce"]) if account else 0
        with self.chain.lock:
            extrinsic = self.chain.api.create_signed_extrinsic(
                call=call, keypair=actor.keypair, nonce=self._nonces[address]
            )
        self._nonces[address] += 1
        return str(extrinsic.data), "0x" + bytes(extrinsic.extrinsic_hash).hex()

    def _error_name(self, pallet_index: int, error_index: int) -> tuple[str, str, str]:
        """(pallet, error, docs) of a module error, from the metadata."""
        with self.chain.lock:
            metadata = self.chain.api.metadata
            pallet = next(p.name for p in metadata.pallets if p.value["index"] == pallet_index)
            error = metadata.get_module_error(module_index=pallet_index, error_index=error_index)
            return str(pallet), str(error.name), " ".join(str(line) for line in error.docs)

    def _build(self, transactions: Sequence[str] = ()) -> tuple[str, int]:
        """Build one block with *transactions* (signed extrinsics, hex) applied in this
        order, straight into the block as Chopsticks allows; its hash and number."""
        params: dict[str, Any] = {"count": 1}
        if transactions:
            params["transactions"] = list(transactions)
        block_hash = str(self.chain.rpc("dev_newBlock", [params]))
        number = int(self.chain.rpc("chain_getHeader", [block_hash])["number"], 16)
        events = self.chain.events_at(block_hash, block_number=number)
        self.events[number] = events
        for event in events:
            if event.qualname == "TransactionPayment.TransactionFeePaid":
                who = str(event["who"])
                self.fees[who] = self.fees.get(who, 0) + int(event["actual_fee"])
        return block_hash, number

    # -- reads -------------------------------------------------------------------------

    def find(self, qualname: str, since: int = 0) -> list[ChainEvent]:
        """Every ``Pallet.Name`` event of the blocks built from *since* on, in order."""
        return [
            e
            for number in sorted(self.events)
            if number >= since
            for e in self.events[number]
            if e.qualname == qualname
        ]

    def stored(self, pallet: str, storage: str, *keys: Any) -> Any:
        """The value of *pallet*.*storage*(*keys*) at the best block; it must exist."""
        value = self.chain.query(pallet, storage, list(keys))
        assert value is not None, f"no {pallet}.{storage}{list(keys)}"
        return value

    def issuance(self) -> int:
        return int(self.chain.query("Balances", "TotalIssuance") or 0)

    def holdings(self, actor: Actor) -> Holdings:
        account = self.chain.query("System", "Account", [actor.address]) or {"data": {}}
        holds: dict[str, int] = {}
        for hold in self.chain.query("Balances", "Holds", [actor.address]) or []:
            ((pallet, reason),) = hold["id"].items()
            holds[f"{pallet}.{reason}"] = holds.get(f"{pallet}.{reason}", 0) + int(hold["amount"])
        ledger = self.chain.query("Credits", "Stakes", [actor.address])
        stake = (0, 0, 0)
        if ledger:
            unbonding = sum(int(c["amount"]) for c in ledger["unbonding"])
            stake = (int(ledger["active"]), int(ledger["bonded"]), unbonding)
        data = account["data"]
        return Holdings(int(data.get("free", 0)), int(data.get("reserved", 0)), holds, stake)

    def expect(
        self,
        actor: Actor,
        *,
        free: int,
        holds: Mapping[str, int] | None = None,
        stake: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        """*actor* holds exactly: *free* minus every fee it paid, the *holds* by reason
        (nothing else held), and the stake ledger (active, bonded, unbonding)."""
        wanted_holds = {k: v for k, v in (holds or {}).items() if v}
        wanted = Holdings(
            free - self.fees.get(actor.address, 0),
            sum(wanted_holds.values()),
            wanted_holds,
            stake,
        )
        assert self.holdings(actor) == wanted, f"{actor.name}"

    def expect_issuance(self, burnt: int) -> None:
        """Total issuance fell by the fees (burnt by the runtime) and *burnt* only."""
        fees = sum(self.fees.values())
        assert self.issuance() == self.issuance_at_start - fees - burnt

    def panel(self, dispute_id: int) -> tuple[list[str], int, int]:
        """The verifiers drawn for *dispute_id*, its last commit block and its last reveal
        block (from its ``VerifiersDrawn`` event)."""
        (drawn,) = [
            e for e in self.find("Disputes.VerifiersDrawn") if int(e["dispute_id"]) == dispute_id
        ]
        verifiers = [str(v) for v in drawn["verifiers"]]
        return verifiers, int(drawn["commit_ends"]), int(drawn["reveal_ends"])

    # -- court calls -------------------------------------------------------------------

    def workers(
        self, actors: Iterable[Actor], stake: int = 10 * CC, more: Mapping[str, int] | None = None
    ) -> None:
        """Stake *stake* (or *more*[name]) and register each of *actors* as a worker, in
        one block."""
        actors = list(actors)
        register = {"capabilities": bounded([b"wasm"]), "endpoint": b""}
        calls = []
        for a in actors:
            amount = (more or {}).get(a.name, stake)
            calls += [
                Call(a, "Credits", "stake", {"amount": amount}),
                Call(a, "Tasks", "register_worker", register),
            ]
        self.all_ok(*calls)


@dataclass(frozen=True)
class Result:
    """A worker's result of a task and the secret salt of its commitment."""

    task_id: int
    worker: Actor
    result_hash: bytes
    fuel: int = 1_000
    salt: bytes = field(default_factory=salt)

    @property
    def commitment(self) -> bytes:
        return result_commitment(
            self.task_id, self.worker.address, self.result_hash, self.fuel, self.salt
        )

    def claim(self) -> Call:
        return Call(self.worker, "Tasks", "claim", {"task_id": self.task_id})

    def commit(self, commitment: bytes | None = None) -> Call:
        """``submit_result`` with its own commitment (or *commitment*)."""
        params = {"task_id": self.task_id, "commitment": _hex(commitment or self.commitment)}
        return Call(self.worker, "Tasks", "submit_result", params)

    def reveal(self) -> Call:
        params = {
            "task_id": self.task_id,
            "result_hash": _hex(self.result_hash),
            "fuel_used": self.fuel,
            "salt": _hex(self.salt),
        }
        return Call(self.worker, "Tasks", "reveal_result", params)


@dataclass(frozen=True)
class Vote:
    """A verifier's vote in a dispute and the secret salt of its commitment."""

    dispute_id: int
    verifier: Actor
    result_hash: bytes
    salt: bytes = field(default_factory=salt)

    @property
    def commitment(self) -> bytes:
        return vote_commitment(self.dispute_id, self.verifier.address, self.result_hash, self.salt)

    def commit(self, commitment: bytes | None = None) -> Call:
        """``commit_vote`` with its own commitment (or *commitment*)."""
        params = {"dispute_id": self.dispute_id, "commitment": _hex(commitment or self.commitment)}
        return Call(self.verifier, "Disputes", "commit_vote", params)

    def reveal(self) -> Call:
        params = {
            "dispute_id": self.dispute_id,
            "result_hash": _hex(self.result_hash),
            "salt": _hex(self.salt),
        }
        return Call(self.verifier, "Disputes", "reveal_vote", params)


def challenge(
    challenger: Actor, task_id: int, worker: Actor, expected: bytes | None = None
) -> Call:
    """``Disputes.challenge`` of *worker*'s result, with an optional expected commitment."""
    params = {
        "task_id": task_id,
        "worker": worker.address,
        "expected": None if expected is None else _hex(expected),
    }
    return Call(challenger, "Disputes", "challenge", params)


def post(requester: Actor, bounty: int, deadline: int, redundancy: int) -> Call:
    """``Tasks.post_task`` of a wasm task."""
    params = {
        "task_type": b"wasm",
        "input_ref": b"ar://input",
        "output_spec": b"stdout",
        "bounty": bounty,
        "deadline": deadline,
        "redundancy": redundancy,
    }
    return Call(requester, "Tasks", "post_task", params)


def opened(receipt: Receipt) -> tuple[int, int]:
    """The dispute id and the draw block of a ``challenge`` receipt."""
    event = receipt.expect("Disputes", "DisputeOpened")
    return int(event["dispute_id"]), int(event["draw_at"])


def reveal_expected(
    challenger: Actor,
    dispute_id: int,
    expected_hash: bytes,
    salt: bytes,
    auditor_salt: bytes | None = None,
) -> Call:
    """``Disputes.reveal_expected``: the challenger's expected hash and salt (and, for an
    auditor, the salt of its key)."""
    params = {
        "dispute_id": dispute_id,
        "expected_hash": _hex(expected_hash),
        "salt": _hex(salt),
        "auditor_salt": None if auditor_salt is None else _hex(auditor_salt),
    }
    return Call(challenger, "Disputes", "reveal_expected", params)


def outcome_names(outcomes: Iterable[Outcome]) -> list[str]:
    """``"ok"`` for each success, the error name for each failure."""
    return [o.name if isinstance(o, DispatchError) else "ok" for o in outcomes]


def succeeded(outcome: Outcome) -> Receipt:
    """*outcome*'s receipt; AssertionError if it failed."""
    if isinstance(outcome, DispatchError):
        raise AssertionError(f"failed: {outcome}")
    return outcome


def task_ids(receipts: Iterable[Receipt]) -> list[int]:
    """The ids of the tasks posted by *receipts*."""
    return [int(r.expect("Tasks", "TaskPosted")["task_id"]) for r in receipts]
