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

    def next_dispute_id(self) -> int:
        return 5


CHARLIE = Keys.from_uri("//Charlie").ss58_address
DAVE = Keys.from_uri("//Dave").ss58_address
RIGHT, WRONG = "0x" + "22" * 32, "0x" + "11" * 32


def history() -> dict[int, list[ChainEvent]]:
    """Blocks 10..14 of dispute 3 (Bob's result found wrong by Charlie; Dave silent) and
    an unrelated dispute 4; other blocks are empty."""

    def ev(name: str, **attrs: Any) -> ChainEvent:
        return ChainEvent("Disputes", name, attrs)

    return {
        10: [
            ev(
                "DisputeOpened",
                dispute_id=3,
                task_id=7,
                worker=BOB,
                challenger=ALICE,
                stake=10 * CC,
                draw_at=12,
            ),
            ChainEvent("Tasks", "TaskPosted", {"task_id": 8}),
        ],
        12: [
            ev(
                "VerifiersDrawn",
                dispute_id=3,
                verifiers=[CHARLIE, DAVE],
                commit_ends=20,
                reveal_ends=30,
            ),
            ev(
                "DisputeOpened",
                dispute_id=4,
                task_id=8,
                worker=CHARLIE,
                challenger=ALICE,
                stake=10 * CC,
                draw_at=14,
            ),
        ],
        13: [
            ev("VoteCommitted", dispute_id=3, verifier=CHARLIE),
            ev("VoteRevealed", dispute_id=3, verifier=CHARLIE, result_hash=RIGHT, agrees=False),
            ev("ExpectedRevealed", dispute_id=3, expected_hash=RIGHT, audit=True),
        ],
        14: [
            ev("VerifiersSlashed", dispute_id=3, verifiers=[(DAVE, 2 * CC)]),
            ev(
                "DisputeResolved",
                dispute_id=3,
                task_id=7,
                worker=BOB,
                verdict="WorkerAtFault",
                slashed=10 * CC,
                rewards=[(CHARLIE, CC)],
                to_winner=9 * CC,
            ),
        ],
    }


class FakeChain:
    def __init__(self) -> None:
        self.credits, self.tasks, self.disputes = FakeCredits(), FakeTasks(), FakeDisputes()
        self.closed = False
        self.read: list[int | None] = []
        """Block numbers whose hash was asked for."""

    def query(self, pallet: str, storage: str, params: Any = ()) -> Any:
        assert (pallet, storage) == ("System", "Account")
        return {"data": {"free": 5 * CC, "reserved": 0, "frozen": 0}}

    def block_number(self, *, finalized: bool = False) -> int:
        return 40

    def block_hash(self, number: int | None = None, *, finalized: bool = False) -> str:
        self.read.append(number)
        return f"0x{number:064x}"

    def events_at(self, block_hash: str, *, block_number: int | None = None) -> list[ChainEvent]:
        assert block_number is not None and int(block_hash, 16) == block_number
        return [
            ChainEvent(e.pallet, e.name, e.attributes, block_number=block_number)
            for e in history().get(block_number, [])
        ]

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeChain:
    fake = FakeChain()
    monkeypatch.setattr(_common, "connect", lambda url, wait="inclusion": fake)
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
    def refuse(url: str, wait: str = "inclusion") -> FakeChain:
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

    def connect(url: str, wait: str = "inclusion") -> FakeChain:
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

    def connect(url: str, wait: str = "inclusion") -> FakeChain:
        urls.append(url)
        return chain

    monkeypatch.setattr(_common, "connect", connect)
    flags = ["--json", "--url", "ws://127.0.0.1:9", "--keystore", str(tmp_path / "ks")]
    before = runner.invoke(app, [*flags, *command])
    after = runner.invoke(app, [*command, *flags])
    assert before.exit_code == after.exit_code == 0, after.output
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert set(urls) <= {"ws://127.0.0.1:9"} and len(urls) in (0, 2)


def test_wait_reaches_the_chain_connection(
    chain: FakeChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--wait`` (before or after the command) and ``CCNET_WAIT`` choose what the
    command's extrinsics wait for; ``inclusion`` by default."""
    waits: list[str] = []

    def connect(url: str, wait: str = "inclusion") -> FakeChain:
        waits.append(wait)
        return chain

    monkeypatch.setattr(_common, "connect", connect)
    monkeypatch.delenv("CCNET_WAIT", raising=False)
    keystore = ["--keystore", str(tmp_path / "ks")]
    assert runner.invoke(app, [*keystore, "balance", ALICE]).exit_code == 0
    assert (
        runner.invoke(app, [*keystore, "balance", ALICE, "--wait", "finalization"]).exit_code == 0
    )
    monkeypatch.setenv("CCNET_WAIT", "finalization")
    assert runner.invoke(app, [*keystore, "balance", ALICE]).exit_code == 0
    assert waits == ["inclusion", "finalization", "finalization"]
    bad = runner.invoke(app, [*keystore, "--wait", "soon", "balance", ALICE])
    assert bad.exit_code == 1 and "wait must be one of inclusion, finalization" in bad.output


def test_usage_error_still_names_the_bad_option(chain: FakeChain) -> None:
    result = runner.invoke(app, ["balance", ALICE, "--jsn"])
    assert result.exit_code == 2 and "--jsn" in result.output


def test_dispute_status_of_a_resolved_dispute_from_its_events(chain: FakeChain) -> None:
    result = run("--json", "dispute", "status", "3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert chain.read == list(range(40, 9, -1))  # back from the head to DisputeOpened
    assert data["state"] == "resolved" and data["verdict"] == "WorkerAtFault"
    assert (data["task_id"], data["worker"], data["challenger"]) == (7, BOB, ALICE)
    assert (data["opened_at"], data["resolved_at"], data["stake"]) == (10, 14, 10 * CC)
    assert data["votes"] == [{"verifier": CHARLIE, "result_hash": RIGHT, "agrees": False}]
    assert data["expected_hash"] == RIGHT and data["audit"] is True
    assert data["payouts"] == [
        {"account": BOB, "role": "worker", "paid": 0, "slashed": 10 * CC},
        {"account": ALICE, "role": "challenger", "paid": 9 * CC, "slashed": 0},
        {"account": CHARLIE, "role": "verifier", "paid": CC, "slashed": 0},
        {"account": DAVE, "role": "verifier", "paid": 0, "slashed": 2 * CC},
    ]
    assert data["scanned"] == {"from_block": 10, "to_block": 40}
    result = run("dispute", "status", "3")
    assert result.exit_code == 0, result.output
    assert "WorkerAtFault" in result.output and "(no vote)" in result.output
    assert "paid 9 CC, slashed 0 CC" in result.output and "slashed 2 CC" in result.output


def test_dispute_status_open_shows_storage(chain: FakeChain) -> None:
    data = json.loads(run("--json", "dispute", "status", "2").stdout)
    assert data["state"] == "open" and data["verifiers"] == [ALICE]
    assert chain.read == []


def test_dispute_status_range_is_bounded(chain: FakeChain) -> None:
    # Opened before --from-block: the resolution is shown, the opening said missing.
    data = json.loads(run("--json", "dispute", "status", "3", "--from-block", "13").stdout)
    assert data["verdict"] == "WorkerAtFault" and data["opened_at"] is None
    assert data["challenger"] is None and chain.read == list(range(40, 12, -1))
    assert [p["role"] for p in data["payouts"]] == ["worker", "verifier", "verifier"]
    result = run("dispute", "status", "3", "--from-block", "13")
    assert "before block 13 (not scanned)" in result.output
    # Unresolved in range (opened in 12, nothing after): shown, not resolved.
    data = json.loads(run("--json", "dispute", "status", "4").stdout)
    assert data["state"] == "open" and data["verdict"] is None and data["payouts"] == []
    # Nothing in range: not found, saying where it looked.
    result = run("dispute", "status", "3", "--from-block", "15")
    assert result.exit_code == 4
    assert "blocks 15..40" in result.output and "--from-block" in result.output
    result = run("dispute", "status", "3", "--from-block", "41")
    assert result.exit_code == 1 and "after the head" in result.output
    # Never opened: not found at once, without scanning.
    chain.read.clear()
    assert run("dispute", "status", "5").exit_code == 4 and chain.read == []


def test_result_hash_of_an_output_file(chain: FakeChain, tmp_path: Path) -> None:
    from ccnet.client.jobs.results import output_hash

    out = tmp_path / "stdout"
    out.write_bytes(b"1229\n")
    result = run("dispute", "result-hash", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "0x" + output_hash(b"1229\n").hex()
    data = json.loads(run("--json", "dispute", "result-hash", "--output", str(out)).stdout)
    assert data == {"result_hash": "0x" + output_hash(b"1229\n").hex()}
    assert run("dispute", "result-hash").exit_code == 1
    assert run("dispute", "result-hash", "--output", str(out), "--arg", "1").exit_code == 1


def test_result_hash_runs_the_module_in_the_sandbox(chain: FakeChain, tmp_path: Path) -> None:
    from ccnet.client.jobs.catalogue import load_job
    from ccnet.client.jobs.results import output_hash

    wasm = tmp_path / "prime_count.wasm"
    wasm.write_bytes(load_job("prime_count"))
    args = ("--json", "dispute", "result-hash", "--module", str(wasm), "--arg", "10000")
    result = run(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["result_hash"] == "0x" + output_hash(b"1229\n").hex() and data["fuel"] > 0
    assert json.loads(run(*args).stdout) == data  # deterministic, fuel included
    result = run("--json", "dispute", "result-hash", "--module", str(wasm), "--fuel", "10")
    assert result.exit_code != 0
    assert json.loads(result.stdout)["error"]["type"] == "FuelExhaustedError"
