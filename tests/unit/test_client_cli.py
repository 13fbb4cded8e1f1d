"""The ``ccnet`` SDK commands through typer's CliRunner, with a faked chain boundary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccnet.client import (
    CC,
    ChainConnectionError,
    ChainEvent,
    CreditsError,
    DisputeInfo,
    Keys,
    Receipt,
    TaskInfo,
)
from ccnet.client.cli import app
from ccnet.client.commands import _common
from ccnet.client.commitments import vote_commitment
from ccnet.client.pallets import Assignment, StakeInfo, Tasks, Unbonding
from ccnet.client.pallets.tasks import TaskTimes

ALICE = Keys.from_uri("//Alice").ss58_address
BOB = Keys.from_uri("//Bob").ss58_address


def receipt(*events: ChainEvent) -> Receipt:
    return Receipt(block_hash="0xb10c", extrinsic_hash="0xe", events=list(events), fee=5)


class FakeCredits:
    def stake_of(self, address: str) -> StakeInfo | None:
        return StakeInfo(20 * CC, 0, (Unbonding(CC, 150),)) if address == ALICE else None

    def total_debt(self, address: str) -> int:
        return 0

    def total_receivable(self, address: str) -> int:
        return 3


class FakeTasks:
    posted_task_id = staticmethod(Tasks.posted_task_id)

    def __init__(self) -> None:
        self.posted: list[tuple[Any, ...]] = []

    def post_task(self, kp: Any, *args: Any) -> Receipt:
        self.posted.append((kp.ss58_address, *args))
        return receipt(ChainEvent("Tasks", "TaskPosted", {"task_id": 7, "bounty": args[3]}))

    def task(self, task_id: int) -> TaskInfo | None:
        if task_id != 7:
            return None
        return TaskInfo(7, ALICE, b"wasm", b"ar://x", b"sha256", CC, 99, 1, 1, 0, "Open", None)

    def assignments(self, task_id: int) -> list[Assignment]:
        return [Assignment(task_id, BOB, "0x" + "11" * 32, 1000, False)]

    def times(self) -> TaskTimes:
        return TaskTimes(10, 10, 100)


class FakeDisputes:
    def __init__(self) -> None:
        self.commitments: dict[tuple[str, int], bytes] = {}
        self.votes: list[tuple[str, int, bytes]] = []

    def challenge(self, kp: Any, task_id: int, worker: str, expected: Any) -> Receipt:
        raise CreditsError("Credits", "InsufficientStake", "The account has less active stake.")

    def commit_vote(self, kp: Any, dispute_id: int, commitment: bytes) -> Receipt:
        self.commitments[(kp.ss58_address, dispute_id)] = commitment
        return receipt(ChainEvent("Disputes", "VoteCommitted", {"dispute_id": dispute_id}))

    def reveal_vote(self, kp: Any, dispute_id: int, digest: bytes, salt: bytes) -> Receipt:
        address = kp.ss58_address
        assert (
            vote_commitment(dispute_id, address, digest, salt)
            == self.commitments[(address, dispute_id)]
        )
        self.votes.append((address, dispute_id, digest))
        return receipt(
            ChainEvent("Disputes", "VoteRevealed", {"dispute_id": dispute_id, "agrees": False}),
            ChainEvent("Disputes", "DisputeResolved", {"verdict": "WorkerAtFault"}),
        )

    def dispute(self, dispute_id: int) -> DisputeInfo | None:
        if dispute_id != 2:
            return None
        claimed = "0x" + "11" * 32
        return DisputeInfo(
            2, 7, BOB, ALICE, 10 * CC, claimed, None, None, False, None, 50, 60, (ALICE,), (), ()
        )

    def dispute_of(self, task_id: int, worker: str) -> int | None:
        return 2 if (task_id, worker) == (7, BOB) else None


class FakeChain:
    def __init__(self) -> None:
        self.credits, self.tasks, self.disputes = FakeCredits(), FakeTasks(), FakeDisputes()
        self.closed = False

    def query(self, pallet: str, storage: str, params: Any = ()) -> Any:
        assert (pallet, storage) == ("System", "Account")
        return {"data": {"free": 5 * CC, "reserved": 0, "frozen": 0}}

    def block_number(self) -> int:
        return 40

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeChain:
    fake = FakeChain()
    monkeypatch.setattr(_common, "connect", lambda url: fake)
    for name in ("CCNET_URL", "CCNET_KEY", "CCNET_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CCNET_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("CCNET_KEYSTORE", str(tmp_path / "keystore"))
    return fake


runner = CliRunner()


def run(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def test_balance_table_and_json(chain: FakeChain) -> None:
    result = run("balance", "//Alice")
    assert result.exit_code == 0, result.output
    assert "5 CC" in result.output and "20 CC" in result.output
    result = run("--json", "balance", ALICE)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data == {
        "address": ALICE,
        "free": 5 * CC,
        "reserved": 0,
        "frozen": 0,
        "staked": 20 * CC,
        "unbonding": CC,
        "debt": 0,
        "receivable": 3,
    }
    assert chain.closed


def test_balance_needs_an_account(chain: FakeChain) -> None:
    result = run("balance")
    assert result.exit_code == 1
    assert "name an account" in result.output


def test_task_post_and_status(chain: FakeChain) -> None:
    result = run("--json", "task", "post", "--input", "ar://x", "--bounty", "2.5", "-k", "//Alice")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["task_id"] == 7
    assert chain.tasks.posted == [(ALICE, "wasm", "ar://x", "sha256", 2 * CC + CC // 2, 140, 1)]
    result = run("task", "status", "7")
    assert result.exit_code == 0 and "Open" in result.output
    # Off a terminal rich assumes 80 columns; the tables take what they need instead of
    # folding addresses and amounts show in CC.
    assert BOB in result.output and ALICE in result.output and "│ 1 CC " in result.output
    assert max(map(len, result.output.splitlines())) > 80
    data = json.loads(run("--json", "task", "status", "7").stdout)
    assert data["task"]["task_type"] == "wasm" and data["assignments"][0]["fuel_used"] == 1000


def test_not_found_exits_4(chain: FakeChain) -> None:
    result = run("task", "status", "8")
    assert result.exit_code == 4 and "no task 8" in result.output
    result = run("--json", "dispute", "status", "9")
    assert result.exit_code == 4
    assert json.loads(result.stdout)["error"]["type"] == "NotFoundError"


@pytest.mark.parametrize("bounty", ["lots", "1,5", "1_000", "1e3", "-1", "NaN", "0.0000000000001"])
def test_unreadable_amount_exits_2_before_anything_is_posted(chain: FakeChain, bounty: str) -> None:
    result = run("task", "post", "--input", "x", "--bounty", bounty, "-k", "//Alice")
    assert result.exit_code == 2
    assert "not an amount" in result.output and "Traceback" not in result.output
    assert chain.tasks.posted == []
    result = run("--json", "task", "post", "--input", "x", "--bounty", bounty, "-k", "//Alice")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["type"] == "UsageError"


def test_usage_error_exits_2(chain: FakeChain) -> None:
    assert run("task", "post", "--bounty", "1").exit_code == 2


def test_dispatch_error_exits_3_with_hint(chain: FakeChain) -> None:
    result = run("dispute", "challenge", "7", BOB, "-k", "//Alice")
    assert result.exit_code == 3
    assert "Credits.InsufficientStake" in result.output and "hint:" in result.output
    result = run("--json", "dispute", "challenge", "7", BOB, "-k", "//Alice")
    error = json.loads(result.stdout)["error"]
    assert (error["pallet"], error["name"]) == ("Credits", "InsufficientStake")


def test_dead_chain_exits_3(chain: FakeChain, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str) -> FakeChain:
        raise ChainConnectionError(url, "connection refused")

    monkeypatch.setattr(_common, "connect", refuse)
    result = run("--url", "ws://127.0.0.1:1", "balance", "//Alice")
    assert result.exit_code == 3
    assert "ws://127.0.0.1:1" in result.output and "ccnet chain start" in result.output


def test_dispute_commit_reveal_vote_and_status(chain: FakeChain) -> None:
    digest = "0x" + "22" * 32
    assert run("dispute", "reveal-vote", "2", "-k", "//Bob").exit_code == 4  # nothing kept
    result = run("dispute", "commit-vote", "2", digest, "-k", "//Bob")
    assert result.exit_code == 0, result.output
    assert (BOB, 2) in chain.disputes.commitments
    assert chain.disputes.commitments[(BOB, 2)] != bytes.fromhex(digest[2:])  # hidden
    result = run("dispute", "reveal-vote", "2", "-k", "//Bob")  # the kept salt opens it
    assert result.exit_code == 0, result.output
    assert "WorkerAtFault" in result.output
    assert chain.disputes.votes == [(BOB, 2, bytes.fromhex(digest[2:]))]
    assert run("dispute", "commit-vote", "2", "0x1234", "-k", "//Bob").exit_code == 1
    result = run("dispute", "status", "--task", "7", "--worker", "//Bob")
    assert result.exit_code == 0 and "Dispute 2" in result.output
    assert run("dispute", "status").exit_code == 1


def test_keys_new_list_inspect(chain: FakeChain, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run("keys", "new", "w1", input="pw\npw\n")
    assert result.exit_code == 0, result.output
    assert "shown only once" in result.output
    monkeypatch.setenv("CCNET_PASSPHRASE", "pw")
    data = json.loads(run("--json", "keys", "new", "w2").stdout)
    assert len(data["mnemonic"].split()) == 12
    listed = json.loads(run("--json", "keys", "list").stdout)
    assert [k["name"] for k in listed] == ["w1", "w2"]
    inspected = json.loads(run("--json", "keys", "inspect", "w2").stdout)
    assert inspected["address"] == data["address"] and "mnemonic" not in inspected
    assert json.loads(run("--json", "keys", "inspect", "//Alice").stdout)["address"] == ALICE
    assert run("keys", "inspect", "nope").exit_code == 4
    assert run("keys", "new", "w1").exit_code == 1  # exists already


def test_stored_key_signs_and_wrong_passphrase_exits_1(
    chain: FakeChain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CCNET_PASSPHRASE", "right")
    assert run("keys", "new", "me").exit_code == 0
    address = json.loads(run("--json", "keys", "inspect", "me").stdout)["address"]
    args = ("task", "post", "--input", "x", "--bounty", "1", "-k", "me")
    assert run(*args).exit_code == 0
    assert chain.tasks.posted[-1][0] == address
    monkeypatch.setenv("CCNET_PASSPHRASE", "wrong")
    result = run(*args)
    assert result.exit_code == 1 and "wrong passphrase" in result.output


def test_config_file_sets_the_url(
    chain: FakeChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls: list[str] = []

    def connect(url: str) -> FakeChain:
        urls.append(url)
        return chain

    monkeypatch.setattr(_common, "connect", connect)
    (tmp_path / "config.toml").write_text('url = "ws://from-config:9"\n')
    assert run("balance", "//Alice").exit_code == 0
    monkeypatch.setenv("CCNET_URL", "ws://from-env:9")
    assert run("balance", "//Alice").exit_code == 0
    assert run("--url", "ws://from-option:9", "balance", "//Alice").exit_code == 0
    assert urls == ["ws://from-config:9", "ws://from-env:9", "ws://from-option:9"]
    (tmp_path / "config.toml").write_text("nonsense = 1\n")
    result = run("balance", "//Alice")
    assert result.exit_code == 1 and "unknown key" in result.output


# -- global options before or after the subcommand ------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["balance", "//Alice"],
        ["task", "status", "7"],
        ["dispute", "status", "2"],
        ["keys", "list"],
    ],
)
def test_json_and_url_before_or_after(
    chain: FakeChain,
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls: list[str] = []

    def connect(url: str) -> FakeChain:
        urls.append(url)
        return chain

    monkeypatch.setattr(_common, "connect", connect)
    flags = ["--json", "--url", "ws://127.0.0.1:9", "--keystore", str(tmp_path / "ks")]
    before = runner.invoke(app, [*flags, *command])
    after = runner.invoke(app, [*command, *flags])
    assert before.exit_code == after.exit_code == 0, after.output
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert set(urls) <= {"ws://127.0.0.1:9"} and len(urls) in (0, 2)


def test_usage_error_still_names_the_bad_option(chain: FakeChain) -> None:
    result = runner.invoke(app, ["balance", ALICE, "--jsn"])
    assert result.exit_code == 2 and "--jsn" in result.output
