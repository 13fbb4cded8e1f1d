"""The README's quick starts, run verbatim against real parts.

Every fenced block of README.md whose info string carries ``quickstart=NAME`` (e.g.
```` ```bash quickstart=worker ````) is documentation a user types. This module extracts
them and runs them as written: the bash blocks of one *session* are joined into one
``bash -e`` script (one shell, as a user's terminal: a block may use a variable or a
background job of an earlier one, such as ``$worker_pid``), a Python block is written
to the file its ``file=NAME`` names and run with the venv's python at its place in the
session. Each session runs in a temporary directory, with ``.venv/bin`` first on the
path and the environment pointing the CLI at a dev chain of the fixtures (``CCNET_URL``,
a keystore and state of its own, ``CCNET_ROOT`` so that ``ccnet chain start`` finds the
raw spec). The only settings a user would not make are the test's own ports and dirs,
and a short worker self-benchmark (``CCNET_WORKER_BENCHMARK_N``).

Sessions (README order):

- ``chain-start``, ``troubleshooting``, ``chain-stop``: the validator's dev chain, on a
  port of its own, and the troubleshooting section's look at it and its log.
- ``worker``, ``requester-cli``, ``requester-sdk``, ``watchtower``, ``release``: a new
  key funded by ``ccnet transfer``, a worker daemon on the fixed ports 9100 and 7400,
  jobs from the CLI and the SDK, a channel guarded and settled by a watchtower, and the
  stake, deposit and bounty released; on the session dev chain (the worker is
  deregistered at the end, so no later dispute draws it).
- ``disputer``: four worker daemons, a task, a challenge, a hand vote and the verdict;
  on a private chain (verifiers are drawn among every registered worker).
- ``checkpoints``: arlocal on a port of its own, save, list, restore.

A block that is missing, renamed or not run by any session fails
:func:`test_every_quickstart_block_is_run`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ccnet.client import Chain, Keys
from ccnet.client.devchain import free_port, group_alive
from ccnet.client.keystore import Keystore

BLOCK = re.compile(
    r"^ *```(?P<lang>\w+) quickstart=(?P<name>[\w-]+)(?: file=(?P<file>[\w.-]+))?\n"
    r"(?P<body>.*?)^ *```$",
    re.MULTILINE | re.DOTALL,
)
VALIDATOR = ("chain-start", "troubleshooting", "chain-stop")
JOURNEY = ("worker", "requester-cli", "requester-sdk", "watchtower", "release")
DISPUTER = ("disputer",)
CHECKPOINTS = ("checkpoints",)
SESSIONS = (VALIDATOR, JOURNEY, DISPUTER, CHECKPOINTS)
FIXED_PORTS = {"signaling": 9100, "dht": 7400}
"""The worker quick start's ports (the requester blocks name 7400)."""
PASSPHRASE = "quickstart"
TIMEOUT = 1200.0
"""Seconds one session may take at most (a failure bound: the journey builds 120
blocks at about one a second on a loaded machine, the disputer starts four daemons)."""
LONG = pytest.mark.timeout(TIMEOUT + 60)


@dataclass(frozen=True)
class Block:
    name: str
    lang: str
    file: str | None
    body: str


def readme_blocks(readme: Path) -> dict[str, Block]:
    blocks: dict[str, Block] = {}
    for m in BLOCK.finditer(readme.read_text()):
        name = m["name"]
        assert name not in blocks, f"two README blocks are named quickstart={name}"
        blocks[name] = Block(name, m["lang"], m["file"], textwrap.dedent(m["body"]))
    return blocks


@pytest.fixture(scope="module")
def blocks(repo_root: Path) -> dict[str, Block]:
    return readme_blocks(repo_root / "README.md")


def test_every_quickstart_block_is_run(blocks: dict[str, Block]) -> None:
    wanted = [name for session in SESSIONS for name in session]
    assert sorted(blocks) == sorted(wanted), "README quickstart blocks and sessions differ"
    for block in blocks.values():
        assert block.lang in ("bash", "python"), block
        assert (block.lang == "python") == (block.file is not None), block


def script(blocks: dict[str, Block], names: Sequence[str]) -> str:
    """One bash script: each block verbatim, after a marker line; a Python block is
    written to its file and run there."""
    parts = []
    for name in names:
        block = blocks[name]  # a KeyError names a missing block
        parts.append(f"echo '::quickstart {name}::'")
        if block.lang == "python":
            assert block.file is not None
            parts.append(f"cat > {block.file} <<'QUICKSTART_PY'\n{block.body}QUICKSTART_PY")
            parts.append(f"python {block.file}")
        else:
            parts.append(block.body)
    return "\n".join(parts) + "\necho '::quickstart done::'\n"


@dataclass
class Run:
    stdout: str
    stderr: str

    def of(self, name: str) -> str:
        """The stdout printed by block *name*."""
        after = self.stdout.split(f"::quickstart {name}::\n", 1)[1]
        return after.split("::quickstart ", 1)[0]


def user_env(tmp_path: Path, repo_root: Path, url: str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCNET_")}
    env.update(
        PATH=f"{repo_root / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        CCNET_URL=url,
        CCNET_KEYSTORE=str(tmp_path / "keystore"),
        CCNET_CONFIG=str(tmp_path / "none.toml"),
        CCNET_PASSPHRASE=PASSPHRASE,
        CCNET_ROOT=str(repo_root),
        CCNET_DEVCHAIN_DIR=str(tmp_path / "devchain"),
        CCNET_ARWEAVE_WALLET=str(tmp_path / "arweave-wallet.json"),
        CCNET_CHECKPOINT_CACHE=str(tmp_path / "checkpoint-cache"),
        CCNET_ARLOCAL_DIR=str(tmp_path / "arlocal"),
        CCNET_WORKER_BENCHMARK_N="100000",
        CCNET_WORKER_BENCHMARK_ROUNDS="1",
        CCNET_SANDBOX_CACHE_DIR=str(cache),
    )
    for name in ("CCNET_CHAIN_SPEC", "CCNET_CACHE", "CCNET_JOBS_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run_session(text: str, cwd: Path, env: dict[str, str]) -> Run:
    """Run *text* with ``bash -e`` in its own process group, its output in
    ``quickstart.out`` / ``.err`` of *cwd* (kept for a post-mortem); on a timeout, kill
    the group (its background daemons with it) and fail."""
    (cwd / "quickstart.sh").write_text(text)
    out_file, err_file = cwd / "quickstart.out", cwd / "quickstart.err"
    with out_file.open("w") as stdout, err_file.open("w") as stderr:
        proc = subprocess.Popen(
            ["bash", "-e", "quickstart.sh"],
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    out, err = out_file.read_text(), err_file.read_text()
    assert proc.returncode == 0, (
        f"quick start failed ({proc.returncode})\n--- stdout\n{out[-6000:]}\n--- stderr\n"
        f"{err[-6000:]}"
    )
    assert out.endswith("::quickstart done::\n")
    return Run(out, err)


def port_free(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stored_address(keystore: Path, name: str) -> str:
    return Keystore(keystore).address_of(name)


@pytest.fixture
def jobs_built() -> Iterator[None]:
    jobs = Path.home() / ".cache" / "ccnet" / "jobs"
    for module in ("sha256sum.wasm", "prime_count.wasm"):
        assert (jobs / module).is_file(), f"{jobs / module} is missing: run `make setup`"
    yield


@LONG
def test_validator_quickstart(
    blocks: dict[str, Block], repo_root: Path, tmp_path: Path, worker_cache_dir: Path
) -> None:
    port = free_port()
    env = user_env(tmp_path, repo_root, f"ws://127.0.0.1:{port}", worker_cache_dir)
    env["CCNET_CHAIN_PORT"] = str(port)
    try:
        run = run_session(script(blocks, VALIDATOR), tmp_path, env)
    finally:
        subprocess.run(["ccnet", "chain", "stop"], env=env, cwd=tmp_path, check=False)
    assert "fresh state from genesis" in run.of("chain-start")
    assert f"dev chain running at ws://127.0.0.1:{port}" in run.of("chain-start")
    assert "built 3 blocks; head #" in run.of("chain-start")
    look = run.of("troubleshooting").splitlines()
    assert look[0].startswith(f"dev chain running at ws://127.0.0.1:{port}")
    assert len(look) == 6  # the status line and the log's last five lines
    assert "dev chain stopped" in run.of("chain-stop")
    assert "not running" in run.of("chain-stop")


@LONG
def test_worker_requester_watchtower_release_quickstarts(
    blocks: dict[str, Block],
    repo_root: Path,
    tmp_path: Path,
    devchain: str,
    ccnet_chain: Chain,
    worker_cache_dir: Path,
    jobs_built: None,
) -> None:
    for what, port in FIXED_PORTS.items():
        kind = socket.SOCK_DGRAM if what == "dht" else socket.SOCK_STREAM
        assert port_free(port, kind), f"the worker quick start's {what} port {port} is taken"
    env = user_env(tmp_path, repo_root, devchain, worker_cache_dir)
    alice = str(Keys.from_uri("//Alice").ss58_address)
    # The session chain is shared: earlier tests may leave Alice's own tasks open.
    before = {t.task_id for t in ccnet_chain.tasks.tasks() if t.requester == alice}
    run = run_session(script(blocks, JOURNEY), tmp_path, env)
    worker1 = stored_address(tmp_path / "keystore", "worker1")

    assert "registered    │ yes" in run.of("worker")
    assert "active stake  │ 20 CC" in run.of("worker")
    expected_sum = hashlib.sha256(b"hello\n").hexdigest()
    assert (tmp_path / "sum.txt").read_text().split()[0] == expected_sum
    assert (tmp_path / "primes.txt").read_text() == "9592\n"  # primes below 100,000
    assert run.of("requester-sdk").startswith("b'78498\\n' ")  # primes below 10^6
    assert "guarding version" in run.stdout
    assert "withdrew 20 CC" in run.of("release")
    assert "bounty released" in run.of("release") and "1 CC" in run.of("release")

    # Released: not registered, nothing staked, bonded or reserved; the channel and
    # the task are gone from storage.
    assert ccnet_chain.tasks.worker(worker1) is None
    account = ccnet_chain.query("System", "Account", [worker1])
    assert account is not None
    assert int(account["data"]["reserved"]) == 0
    assert ccnet_chain.free_balance(worker1) > 99 * 10**12
    tasks = [
        t for t in ccnet_chain.tasks.tasks() if t.requester == alice and t.task_id not in before
    ]
    assert all(t.status != "Open" for t in tasks), [(t.task_id, t.status) for t in tasks]
    stores = list((tmp_path / ".state" / "accounts").glob("*/channels.db"))
    assert len(stores) == 1  # the CLI's channel, settled by the watchtower


@LONG
def test_disputer_quickstart(
    blocks: dict[str, Block],
    repo_root: Path,
    tmp_path: Path,
    private_chain: str,
    worker_cache_dir: Path,
    jobs_built: None,
) -> None:
    env = user_env(tmp_path, repo_root, private_chain, worker_cache_dir)
    run = run_session(script(blocks, DISPUTER), tmp_path, env)
    out = run.of("disputer")
    assert "WorkerUpheld" in out
    assert "completed: 5 CC to each of 1 worker(s)" in out
    with Chain(private_chain) as chain:
        assert chain.tasks.workers() == [], "a worker of the disputer quick start is left"
    names = ("w1", "v1", "v2", "me")
    for name in names:
        assert json.loads((tmp_path / f"{name}.out").read_text().splitlines()[0])["event"] == (
            "ready"
        )


@LONG
def test_checkpoints_quickstart(
    blocks: dict[str, Block],
    repo_root: Path,
    tmp_path: Path,
    devchain: str,
    worker_cache_dir: Path,
) -> None:
    port = free_port()
    env = user_env(tmp_path, repo_root, devchain, worker_cache_dir)
    env["CCNET_ARLOCAL_PORT"] = str(port)
    env["CCNET_ARWEAVE_URL"] = f"http://127.0.0.1:{port}"
    try:
        run = run_session(script(blocks, CHECKPOINTS), tmp_path, env)
    finally:
        stop = ["ccnet", "checkpoint", "gateway", "stop"]
        subprocess.run(stop, env=env, cwd=tmp_path, check=False, capture_output=True)
    out = run.of("checkpoints")
    assert f"arlocal running at http://127.0.0.1:{port}" in out
    assert "restored 13 bytes" in out and "arlocal stopped" in out
    assert (tmp_path / "restored.txt").read_bytes() == b"my job state\n"
