"""Life-cycle commands of ``ccnet`` against the dev chain (CliRunner in-process), with
exact planck balances: ``transfer``; ``task list|accept|expire``; ``worker
unstake|withdraw|deregister``; global options before or after the subcommand. Workers are driven
through the SDK (stake, register, claim, commit, reveal), the commands under test
through the CLI."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from ccnet.client import CC, Chain, Keys
from ccnet.client.cli import app
from ccnet.client.commitments import new_salt, result_commitment
from ccnet.client.exceptions import CcnetError

runner = CliRunner()


def fresh_uri() -> str:
    """A dev URI nobody else uses: an empty account of its own."""
    return f"//cli-{secrets.token_hex(6)}"


def address(uri: str) -> str:
    return str(Keys.from_uri(uri).ss58_address)


def ccnet_json(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["--json", *args])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def fund(chain: Chain, uri: str, amount: int = 1000 * CC) -> str:
    chain.transfer(Keys.from_uri("//Ferdie"), address(uri), amount)
    return address(uri)


# -- transfer ------------------------------------------------------------------------------


def test_transfer_moves_exact_planck(cli_env: str, ccnet_chain: Chain) -> None:
    sender, dest = fresh_uri(), fresh_uri()
    fund(ccnet_chain, sender, 10 * CC)
    before = ccnet_chain.free_balance(address(sender))

    sent = ccnet_json("transfer", dest, "2.000000000003", "-k", sender)
    assert sent["amount"] == 2 * CC + 3 and sent["to"] == address(dest)
    assert sent["from"] == address(sender) and sent["fee"] > 0
    assert ccnet_chain.free_balance(address(dest)) == 2 * CC + 3
    assert ccnet_chain.free_balance(address(sender)) == before - (2 * CC + 3) - sent["fee"]

    # By address, in planck, with the human output: amounts shown in CC.
    result = runner.invoke(app, ["transfer", address(dest), "500planck", "-k", sender])
    assert result.exit_code == 0, result.output
    assert "0.0000000005 CC" in result.output
    assert ccnet_chain.free_balance(address(dest)) == 2 * CC + 503


def test_transfer_refusals_move_nothing(cli_env: str, ccnet_chain: Chain) -> None:
    sender, dest = fresh_uri(), fresh_uri()
    fund(ccnet_chain, sender, 10 * CC)
    before = ccnet_chain.free_balance(address(sender))

    # More than the free balance: the runtime refuses; only the fee is paid.
    failed = ccnet_json("transfer", dest, "11", "-k", sender, code=3)
    assert failed["error"]["name"] == "FundsUnavailable" and "hint" in failed["error"]
    # Below the existential deposit of a new account.
    failed = ccnet_json("transfer", dest, "1planck", "-k", sender, code=3)
    assert failed["error"]["name"] == "BelowMinimum" and "ExistentialDeposit" in str(failed)
    assert ccnet_chain.free_balance(address(dest)) == 0
    after = ccnet_chain.free_balance(address(sender))
    assert 0 < before - after < CC // 100  # two fees, nothing sent

    # Zero, and a key that is neither an address nor a dev URI nor stored: no extrinsic.
    failed = ccnet_json("transfer", dest, "0", "-k", sender, code=1)
    assert "more than zero" in failed["error"]["message"]
    failed = ccnet_json("transfer", "nobody", "1", "-k", sender, code=4)
    assert ccnet_chain.free_balance(address(sender)) == after


def test_ambiguous_amounts_move_nothing(cli_env: str, ccnet_chain: Chain) -> None:
    sender, dest = fresh_uri(), fresh_uri()
    fund(ccnet_chain, sender, 10 * CC)
    before = ccnet_chain.free_balance(address(sender))
    next_id = ccnet_chain.tasks.next_task_id()
    for amount in ("1,5", "1_000", "1e3", "NaN", "0.0000000000001"):
        failed = ccnet_json("transfer", dest, amount, "-k", sender, code=2)
        assert "not an amount" in failed["error"]["message"]
    for amount in ("1,5", "1_000", "1e3", "-1", "NaN", "0.0000000000001"):
        args = ["task", "post", "--input", "ar://x", "--bounty", amount, "-k", sender]
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "not an amount" in result.output
    assert ccnet_chain.free_balance(address(sender)) == before
    assert ccnet_chain.free_balance(address(dest)) == 0
    assert ccnet_chain.tasks.next_task_id() == next_id


# -- tasks ---------------------------------------------------------------------------------


def reserved(chain: Chain, who: str) -> int:
    account = chain.query("System", "Account", [who])
    return int(account["data"]["reserved"]) if account else 0


_REGISTERED: list[str] = []
"""Dev URIs of the workers this module registered (deregistered after each test)."""


@pytest.fixture(autouse=True)
def _leave_no_workers(ccnet_chain: Chain) -> Iterator[None]:
    """Registered workers are candidates of every later dispute draw on the shared dev
    chain, and no other test holds their keys: deregister them after each test."""
    yield
    while _REGISTERED:
        keypair = Keys.from_uri(_REGISTERED.pop())
        if ccnet_chain.tasks.worker(str(keypair.ss58_address)) is not None:
            try:
                ccnet_chain.tasks.deregister_worker(keypair)
            except CcnetError:
                pass  # still bound by a claim: it is not drawn while it works


def worker(chain: Chain, stake: int = 20 * CC) -> str:
    """A fresh funded worker with *stake* active stake, registered; its dev URI."""
    uri = fresh_uri()
    fund(chain, uri)
    keypair = Keys.from_uri(uri)
    chain.credits.stake(keypair, stake)
    chain.tasks.register_worker(keypair, [b"wasm"], b"http://127.0.0.1:1/offer")
    _REGISTERED.append(uri)
    return uri


def reveal(chain: Chain, uri: str, task_id: int, digest: bytes, salt: bytes) -> None:
    chain.tasks.reveal_result(Keys.from_uri(uri), task_id, digest, 7, salt)


def post(requester: str, bounty: str, *, redundancy: int = 1, deadline_in: int = 50) -> int:
    args = ["task", "post", "--input", "ar://life", "--bounty", bounty, "-k", requester]
    args += ["--redundancy", str(redundancy), "--deadline-in", str(deadline_in)]
    return int(ccnet_json(*args)["task_id"])


def committed(chain: Chain, uri: str, task_id: int, digest: bytes) -> bytes:
    """Claim *task_id* as *uri* and commit to *digest*; the salt to reveal with."""
    keypair = Keys.from_uri(uri)
    salt = new_salt()
    chain.tasks.claim(keypair, task_id)
    chain.tasks.submit_result(
        keypair, task_id, result_commitment(task_id, address(uri), digest, 7, salt)
    )
    return salt


def test_task_list_and_accept_pay_exact_shares(cli_env: str, ccnet_chain: Chain) -> None:
    chain = ccnet_chain
    requester = fresh_uri()
    fund(chain, requester)
    w1, w2 = worker(chain), worker(chain)
    bounty = 3 * CC + 1  # odd: one planck of remainder goes back to the requester
    task_id = post(requester, "3.000000000001", redundancy=2)

    listed = ccnet_json("task", "list", "--requester", requester)["tasks"]
    assert [t["task_id"] for t in listed] == [task_id]
    assert listed[0]["bounty"] == bounty and listed[0]["status"] == "Open"
    assert listed[0]["challenge_ends"] == listed[0]["deadline"] + 20  # dev: 10 + 10 blocks
    digest = b"\x42" * 32
    salts = {uri: committed(chain, uri, task_id, digest) for uri in (w1, w2)}
    mine = ccnet_json("task", "list", "--worker", w1)["tasks"]
    assert [t["task_id"] for t in mine] == [task_id]
    assert ccnet_json("task", "list", "--worker", fresh_uri())["tasks"] == []

    # Accepting before every slot is revealed: refused by the runtime, with a hint.
    reveal(chain, w1, task_id, digest, salts[w1])
    refused = ccnet_json("task", "accept", str(task_id), "-k", requester, code=3)
    assert refused["error"]["name"] == "NotUnanimous" and "hint" in refused["error"]
    reveal(chain, w2, task_id, digest, salts[w2])
    # Only the requester may accept.
    refused = ccnet_json("task", "accept", str(task_id), "-k", w1, code=3)
    assert refused["error"]["name"] == "NotRequester"

    before = {who: chain.free_balance(address(who)) for who in (requester, w1, w2)}
    held = reserved(chain, address(requester))
    accepted = ccnet_json("task", "accept", str(task_id), "-k", requester)
    share = bounty // 2
    assert accepted["completed"]["paid"] == share
    assert sorted(accepted["completed"]["workers"]) == sorted([address(w1), address(w2)])
    assert chain.free_balance(address(w1)) == before[w1] + share
    assert chain.free_balance(address(w2)) == before[w2] + share
    assert chain.free_balance(address(requester)) == before[requester] + 1 - accepted["fee"]
    assert reserved(chain, address(requester)) == held - bounty  # the deposit stays
    for uri in (w1, w2):
        assert chain.credits.bonded_stake(address(uri)) == 0

    assert ccnet_json("task", "list", "--requester", requester)["tasks"] == []
    done = ccnet_json("task", "list", "--requester", requester, "--all")["tasks"]
    assert [(t["task_id"], t["status"]) for t in done] == [(task_id, "Completed")]
    result = runner.invoke(app, ["task", "list", "--requester", requester, "--all"])
    assert (
        result.exit_code == 0
        and "Completed" in result.output
        and "3.000000000001 CC" in (result.output)
    )


def test_task_expire_refunds_and_slashes_the_silent_claim(cli_env: str, ccnet_chain: Chain) -> None:
    chain = ccnet_chain
    requester, anyone = fresh_uri(), fresh_uri()
    fund(chain, requester)
    fund(chain, anyone)
    silent = worker(chain)
    task_id = post(requester, "2", deadline_in=3)
    chain.tasks.claim(Keys.from_uri(silent), task_id)

    # Too early: the reveal period is not over.
    refused = ccnet_json("task", "expire", str(task_id), "-k", anyone, code=3)
    assert refused["error"]["name"] == "RevealNotOpen" and "hint" in refused["error"]
    info = chain.tasks.task(task_id)
    assert info is not None
    chain.new_blocks(info.deadline + chain.tasks.times().reveal_period - chain.block_number())

    slash = int(chain.tasks.constant("NoRevealSlash"))
    before_requester = chain.free_balance(address(requester))
    before_stake = chain.credits.active_stake(address(silent))
    expired = ccnet_json("task", "expire", str(task_id), "-k", anyone)
    assert expired["expired"] and not expired["unresolved"] and expired["completed"] is None
    assert [f["worker"] for f in expired["forfeited"]] == [address(silent)]
    assert chain.free_balance(address(requester)) == before_requester + 2 * CC + slash
    assert chain.credits.active_stake(address(silent)) == before_stake - slash
    assert chain.credits.bonded_stake(address(silent)) == 0
    # Settled: a second expire (or accept) is refused.
    refused = ccnet_json("task", "expire", str(task_id), "-k", anyone, code=3)
    assert refused["error"]["name"] == "TaskNotOpen"
    refused = ccnet_json("task", "accept", str(task_id), "-k", requester, code=1)
    assert "no revealed result" in refused["error"]["message"]


# -- leaving as a worker -------------------------------------------------------------------


def test_worker_leaves_and_takes_back_deposit_and_stake(cli_env: str, ccnet_chain: Chain) -> None:
    chain = ccnet_chain
    requester = fresh_uri()
    fund(chain, requester)
    uri = worker(chain, 20 * CC)
    who = address(uri)
    task_id = post(requester, "1")
    salt = committed(chain, uri, task_id, b"\x07" * 32)  # bonds ClaimBond = 10 CC

    # The claim's bond can be neither unstaked nor left behind: refused before any fee.
    free, held = chain.free_balance(who), reserved(chain, who)
    refused = ccnet_json("worker", "unstake", "15", "-k", uri, code=1)
    assert f"task(s) {task_id}" in refused["error"]["message"]
    assert "at most 10 CC" in refused["error"]["message"] and refused["error"]["hint"]
    refused = ccnet_json("worker", "deregister", "-k", uri, code=1)
    assert f"task(s) {task_id}" in refused["error"]["message"]
    refused = ccnet_json("worker", "withdraw", "-k", uri, code=1)
    assert "no unbonding stake" in refused["error"]["message"]
    assert (chain.free_balance(who), reserved(chain, who)) == (free, held)

    # The free half starts unbonding at once.
    unstaked = ccnet_json("worker", "unstake", "10", "-k", uri)
    assert unstaked["amount"] == 10 * CC
    assert unstaked["unlock_at"] == chain.block_number() + chain.credits.unbonding_period()
    stake = chain.credits.stake_of(who)
    assert stake is not None and (stake.active, stake.bonded) == (20 * CC - 10 * CC, 10 * CC)
    assert chain.free_balance(who) == free - unstaked["fee"]
    refused = ccnet_json("worker", "withdraw", "-k", uri, code=1)
    assert f"block {unstaked['unlock_at']}" in refused["error"]["message"]

    # Settle the task; then the worker may leave: the record deposit comes back.
    reveal(chain, uri, task_id, b"\x07" * 32, salt)
    chain.tasks.accept(Keys.from_uri(requester), task_id, who)
    info = chain.tasks.worker(who)
    assert info is not None and info.deposit > 0
    free, held = chain.free_balance(who), reserved(chain, who)
    left = ccnet_json("worker", "deregister", "-k", uri)
    assert left["deposit_released"] == info.deposit
    assert chain.free_balance(who) == free + info.deposit - left["fee"]
    assert reserved(chain, who) == held - info.deposit
    assert chain.tasks.worker(who) is None
    refused = ccnet_json("worker", "deregister", "-k", uri, code=4)
    assert "not a registered worker" in refused["error"]["message"]

    # The rest of the stake (its bond released) unbonds too; matured stake is withdrawn.
    rest = ccnet_json("worker", "unstake", "10", "-k", uri)
    chain.new_blocks(unstaked["unlock_at"] - chain.block_number())
    free, held = chain.free_balance(who), reserved(chain, who)
    withdrawn = ccnet_json("worker", "withdraw", "-k", uri)
    assert withdrawn["amount"] == 10 * CC  # only the first chunk has matured
    assert chain.free_balance(who) == free + 10 * CC - withdrawn["fee"]
    assert reserved(chain, who) == held - 10 * CC
    stake = chain.credits.stake_of(who)
    assert stake is not None and stake.active == 0
    assert [(c.amount, c.unlock_at) for c in stake.unbonding] == [(10 * CC, rest["unlock_at"])]


# -- global options ------------------------------------------------------------------------


def test_global_options_before_or_after_the_subcommand(
    cli_env: str, ccnet_chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCNET_URL", "ws://127.0.0.1:1")  # only --url reaches the chain
    sender, dest = fresh_uri(), fresh_uri()
    fund(ccnet_chain, sender, 10 * CC)
    flags = ["--json", "--url", cli_env]
    for command in (
        ["balance", sender],
        ["task", "list", "--all", "--requester", sender],
        ["stake", "status", "-k", sender],
        ["worker", "status", "-k", sender],
    ):
        before = runner.invoke(app, [*flags, *command])
        after = runner.invoke(app, [*command, *flags])
        assert before.exit_code == after.exit_code == 0, after.output
        assert json.loads(after.stdout) == json.loads(before.stdout)

    free = ccnet_chain.free_balance(address(sender))
    sent = runner.invoke(app, ["transfer", dest, "1.25", "-k", sender, "--url", cli_env, "--json"])
    assert sent.exit_code == 0, sent.output
    fee = json.loads(sent.stdout)["fee"]
    sent = runner.invoke(app, ["--url", cli_env, "transfer", dest, "1.25", "-k", sender, "--json"])
    assert sent.exit_code == 0, sent.output
    fee += json.loads(sent.stdout)["fee"]
    assert ccnet_chain.free_balance(address(dest)) == 2 * (CC + CC // 4)
    assert ccnet_chain.free_balance(address(sender)) == free - 2 * (CC + CC // 4) - fee
