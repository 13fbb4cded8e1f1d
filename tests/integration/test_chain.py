"""The runtime on the dev chain: its pallets, and one signed call into each ccnet pallet.

The chain lives for the whole session, so each test sets up what it needs (stakes,
worker registrations, its own task) instead of relying on the order of the tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from substrateinterface import Keypair, SubstrateInterface

from ccnet.client.commitments import result_commitment

SS58 = 42
CC = 10**12  # 12 decimals: 1 CC in planck
CCNET_PALLETS = {"Credits", "Tasks", "Channels", "Checkpoints", "Disputes"}
FRAME_PALLETS = {"System", "Timestamp", "Aura", "Grandpa", "Balances", "TransactionPayment", "Sudo"}
CAPABILITY = b"wasm"
BOUNTY = 10 * CC


@pytest.fixture(scope="module")
def substrate(devchain: str) -> Iterator[SubstrateInterface]:
    api = SubstrateInterface(url=devchain, ss58_format=SS58)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="module")
def min_worker_stake(substrate: SubstrateInterface) -> int:
    constant = substrate.get_constant("Tasks", "MinWorkerStake")
    assert constant is not None, "runtime constant Tasks.MinWorkerStake is missing"
    return int(constant.value)


def account(name: str) -> Keypair:
    """A dev account (//Alice ... //Ferdie), funded in the development preset."""
    return Keypair.create_from_uri(f"//{name}", ss58_format=SS58)


def digest(label: str) -> str:
    """A 0x-prefixed H256 for *label*."""
    return "0x" + hashlib.sha256(label.encode()).hexdigest()


def as_bytes(value: Any) -> bytes:
    """A decoded Vec<u8>: scalecodec gives text if it is UTF-8, else 0x-hex."""
    if isinstance(value, str):
        return bytes.fromhex(value[2:]) if value.startswith("0x") else value.encode()
    return bytes(value)


def bounded(items: list[Any]) -> list[list[Any]]:
    """A BoundedVec of *items* as scalecodec encodes it: a one-field composite, given
    as the list of its fields (a bare list would be taken as that field list)."""
    return [items]


def submit(
    substrate: SubstrateInterface, signer: Keypair, pallet: str, call: str, **params: Any
) -> list[dict[str, Any]]:
    """Sign *pallet.call* with *signer*, wait for inclusion, assert success and return
    the values of the events it triggered."""
    extrinsic = substrate.create_signed_extrinsic(
        call=substrate.compose_call(call_module=pallet, call_function=call, call_params=params),
        keypair=signer,
    )
    receipt = substrate.submit_extrinsic(extrinsic, wait_for_inclusion=True)
    assert receipt.is_success, f"{pallet}.{call} by {signer.ss58_address}: {receipt.error_message}"
    return [event.value for event in receipt.triggered_events]


def event(events: list[dict[str, Any]], pallet: str, name: str) -> dict[str, Any]:
    """The fields of the one *pallet.name* event among *events*."""
    found: list[dict[str, Any]] = [
        e["attributes"] for e in events if (e["module_id"], e["event_id"]) == (pallet, name)
    ]
    seen = [f"{e['module_id']}.{e['event_id']}" for e in events]
    assert len(found) == 1, f"expected one {pallet}.{name} event, got {seen}"
    return found[0]


def active_stake(substrate: SubstrateInterface, who: Keypair) -> int:
    stake = substrate.query("Credits", "Stakes", [who.ss58_address]).value
    return int(stake["active"]) if stake else 0


def is_worker(substrate: SubstrateInterface, who: Keypair) -> bool:
    return substrate.query("Tasks", "Workers", [who.ss58_address]).value is not None


def ensure_worker(substrate: SubstrateInterface, who: Keypair, min_stake: int) -> None:
    """Stake enough and register *who* as a worker able to run CAPABILITY tasks."""
    if is_worker(substrate, who):
        return
    shortfall = min_stake + 100 * CC - active_stake(substrate, who)
    if shortfall > 0:
        submit(substrate, who, "Credits", "stake", amount=shortfall)
    endpoint = f"http://127.0.0.1/{who.ss58_address}".encode()
    submit(
        substrate,
        who,
        "Tasks",
        "register_worker",
        capabilities=bounded([CAPABILITY]),
        endpoint=endpoint,
    )


def post_task(substrate: SubstrateInterface, requester: Keypair) -> dict[str, Any]:
    """Post a CAPABILITY task with BOUNTY; returns the TaskPosted fields."""
    head = substrate.get_block_number(substrate.get_chain_head())
    events = submit(
        substrate,
        requester,
        "Tasks",
        "post_task",
        task_type=CAPABILITY,
        input_ref=b"ar://ccnet-test-input",
        output_spec=b"sha256",
        bounty=BOUNTY,
        deadline=head + 100,
        redundancy=1,
    )
    return event(events, "Tasks", "TaskPosted")


def test_runtime_has_the_pallets(substrate: SubstrateInterface) -> None:
    names = {pallet.name for pallet in substrate.get_metadata().pallets}
    assert not (CCNET_PALLETS | FRAME_PALLETS) - names, f"runtime pallets: {sorted(names)}"


def test_credits_stake(substrate: SubstrateInterface) -> None:
    alice, amount = account("Alice"), 100 * CC
    before = active_stake(substrate, alice)
    staked = event(submit(substrate, alice, "Credits", "stake", amount=amount), "Credits", "Staked")
    assert staked == {"who": alice.ss58_address, "amount": amount}
    stake = substrate.query("Credits", "Stakes", [alice.ss58_address]).value
    assert stake is not None and "unbonding" in stake
    assert int(stake["active"]) == before + amount


def test_tasks_register_worker(substrate: SubstrateInterface, min_worker_stake: int) -> None:
    alice = account("Alice")
    assert not is_worker(substrate, alice)
    shortfall = min_worker_stake - active_stake(substrate, alice)
    if shortfall > 0:
        submit(substrate, alice, "Credits", "stake", amount=shortfall)
    events = submit(
        substrate,
        alice,
        "Tasks",
        "register_worker",
        capabilities=bounded([CAPABILITY]),
        endpoint=b"http://127.0.0.1:9000",
    )
    assert event(events, "Tasks", "WorkerRegistered") == {"worker": alice.ss58_address}
    assert is_worker(substrate, alice)


def test_tasks_post_task(substrate: SubstrateInterface) -> None:
    alice = account("Alice")
    posted = post_task(substrate, alice)
    assert isinstance(posted["task_id"], int)
    assert (posted["requester"], posted["bounty"]) == (alice.ss58_address, BOUNTY)


def test_channels_open(substrate: SubstrateInterface) -> None:
    alice, bob, deposit = account("Alice"), account("Bob"), 5 * CC
    # A one-way channel: only the opener funds it, so Bob's consent is not needed.
    events = submit(
        substrate,
        alice,
        "Channels",
        "open",
        counterparty=bob.ss58_address,
        deposit=deposit,
        counterparty_deposit=0,
    )
    opened = event(events, "Channels", "ChannelOpened")
    assert (opened["party_a"], opened["party_b"]) == (alice.ss58_address, bob.ss58_address)
    assert (opened["deposit_a"], opened["deposit_b"]) == (deposit, 0)
    assert substrate.query("Channels", "Channels", [opened["channel_id"]]).value is not None


def test_checkpoints_record(substrate: SubstrateInterface) -> None:
    alice, state_hash = account("Alice"), digest("ccnet checkpoint test")
    arweave_tx_id = b"ccnet-test-checkpoint-tx-000000000000000000"  # 43 chars, like Arweave's
    events = submit(
        substrate,
        alice,
        "Checkpoints",
        "record",
        state_hash=state_hash,
        arweave_tx_id=arweave_tx_id,
        size=4096,
    )
    recorded = event(events, "Checkpoints", "CheckpointRecorded")
    assert (recorded["owner"], recorded["state_hash"]) == (alice.ss58_address, state_hash)
    assert as_bytes(recorded["arweave_tx_id"]) == arweave_tx_id
    assert recorded["size"] == 4096
    assert substrate.query("Checkpoints", "Latest", [alice.ss58_address]).value is not None


def test_disputes_challenge(substrate: SubstrateInterface, min_worker_stake: int) -> None:
    alice, bob = account("Alice"), account("Bob")
    verifier_pool = [account("Charlie"), account("Dave"), account("Eve")]
    for worker in (bob, *verifier_pool):
        ensure_worker(substrate, worker, min_worker_stake)
    task_id = post_task(substrate, alice)["task_id"]
    submit(substrate, bob, "Tasks", "claim", task_id=task_id)
    result, salt = digest(f"result of task {task_id}"), "0x" + "07" * 32
    commitment = "0x" + result_commitment(task_id, bob.ss58_address, result, 1_000_000, salt).hex()
    submit(substrate, bob, "Tasks", "submit_result", task_id=task_id, commitment=commitment)
    submit(
        substrate,
        bob,
        "Tasks",
        "reveal_result",
        task_id=task_id,
        result_hash=result,
        fuel_used=1_000_000,
        salt=salt,
    )
    events = submit(
        substrate,
        alice,
        "Disputes",
        "challenge",
        task_id=task_id,
        worker=bob.ss58_address,
        expected=None,
    )
    opened = event(events, "Disputes", "DisputeOpened")
    assert opened["task_id"] == task_id
    assert (opened["worker"], opened["challenger"]) == (bob.ss58_address, alice.ss58_address)
    head = substrate.get_block_number(substrate.get_chain_head())
    assert opened["draw_at"] >= head + 1, "verifiers must be drawn from later randomness"
    assert isinstance(opened["dispute_id"], int)
