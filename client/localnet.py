"""A local network of ``ccnet-node`` processes on 127.0.0.1: the ``local`` chain's
(:data:`DEFAULT_SPEC`) validators (Alice, Bob, Charlie, Dave: its Aura and GRANDPA
authorities) and optional non-validator (full) nodes. One implementation behind
``ccnet network`` and the pytest fixtures; the recipe is ``node/localnet.sh`` (see
``node/README.md``).

Each node gets its own base path under the state dir (default ``.state/localnet``), a
node key from ``ccnet-node key generate-node-key``, a validator its session keys from
``key insert`` (``aura``: sr25519, ``gran``: ed25519, the dev seeds ``//Alice`` ...),
free loopback ports (p2p, RPC), ``--no-mdns --no-prometheus --no-telemetry``, and the
first node as boot node. Every node's ``wasm-cache`` is a symlink to one shared
compiled-runtime cache (default ``$CCNET_CACHE/node-wasm-cache``), so the runtime is
compiled once (minutes for a debug build) and later nodes and networks start from it.

A start begins at genesis (:data:`FRESH_STATE`: the base paths are wiped); a stopped
node restarted with :meth:`LocalNetwork.start_node` keeps its base path and catches up.
The state file (``network.json``), pid files and logs live in the state dir, so start,
status and stop work across processes. Blocks come every :data:`BLOCK_TIME_MS` (Aura
slots); GRANDPA finalizes with 3 of the 4 authorities (:data:`FINALITY_QUORUM`).

The binary is ``$CCNET_NODE_BIN``, else ``debug/ccnet-node`` in
``$CCNET_NODE_TARGET_DIR``, else :data:`DEFAULT_NODE_BIN` (where
``scripts/build-node.sh`` builds it).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from .config import cache_root
from .devchain import DEFAULT_HOST, find_root, process_started, stop_group
from .exceptions import LocalNetworkError, NodeBinaryNotFoundError, SpecNotFoundError, UsageError

__all__ = [
    "AUTHORITIES",
    "BLOCK_TIME_MS",
    "CHAIN_ID",
    "DEFAULT_NODE_BIN",
    "DEFAULT_SPEC",
    "DEFAULT_STATE_DIR",
    "FINALITY_QUORUM",
    "FRESH_STATE",
    "MAX_FULL_NODES",
    "NODE_BIN_ENV",
    "NODE_TARGET_ENV",
    "LocalNetwork",
    "NetworkInfo",
    "NodeInfo",
    "NodeStatus",
    "Role",
    "finality_warning",
    "node_binary",
    "rpc_call",
]

logger = logging.getLogger(__name__)

DEFAULT_SPEC = Path("chain-spec/local_testnet.raw.json")
"""The raw chain spec the nodes run (``--chain``; the ``local_testnet`` preset, made by
``scripts/setup.sh``). Raw, because a node given ``--chain local`` builds the genesis
state by running the runtime compiled anew, outside the runtime cache: minutes per node
with a debug build."""
CHAIN_ID = "ccnet_local_testnet"
"""Its chain id: the folder under ``<base path>/chains/``."""
AUTHORITIES = ("Alice", "Bob", "Charlie", "Dave")
"""The ``local`` chain's Aura and GRANDPA authorities, in validator order (dev seeds)."""
FINALITY_QUORUM = 3
"""GRANDPA finalizes only with more than 2/3 of the authorities: 3 of 4."""
BLOCK_TIME_MS = 6000
"""Aura slot duration of the runtime, ms: one block per slot."""
MAX_FULL_NODES = 8
"""Most non-validator nodes one network starts (a guard against typos)."""
NODE_BIN_ENV = "CCNET_NODE_BIN"
NODE_TARGET_ENV = "CCNET_NODE_TARGET_DIR"
"""The cargo target directory ``scripts/build-node.sh`` builds the node in, if set."""
DEFAULT_NODE_BIN = Path("~/.cache/ccnet/node-target/debug/ccnet-node")
DEFAULT_STATE_DIR = Path(".state/localnet")
WASM_CACHE_NAME = "node-wasm-cache"
"""The shared compiled-runtime cache, under the cache root (``$CCNET_CACHE``)."""
FRESH_STATE = True
"""Whether :meth:`LocalNetwork.start` begins at genesis (base paths wiped)."""
DEFAULT_START_TIMEOUT = 900.0
"""Seconds a start waits for every node to answer and produce a block: a cold runtime
cache means a debug build compiles the runtime first (minutes on a busy machine)."""
INFO_FILE = "network.json"
_RPC_TIMEOUT = 5.0
_POLL = 0.5
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PEER_ID = re.compile(r"^12D3Koo[1-9A-HJ-NP-Za-km-z]+$")

Role = Literal["validator", "full"]


@dataclass(frozen=True)
class NodeInfo:
    """One node of the network, as recorded in the state dir."""

    name: str
    """``alice`` ... ``dave`` for validators, ``full1`` ... for full nodes."""
    role: Role
    base_path: str
    p2p_port: int
    """TCP port of its libp2p listener on 127.0.0.1."""
    rpc_port: int
    """Port of its JSON-RPC server (HTTP and WebSocket) on 127.0.0.1."""
    peer_id: str
    log: str
    """Its log file (appended to on each start)."""
    pid: int = 0
    """Process id (and process group id) of its last start; 0 if never started."""
    started: int = 0
    """Its start time in /proc (clock ticks after boot), against a reused pid."""

    @property
    def ws_url(self) -> str:
        """WebSocket URL of its RPC (what the SDK and ``--url`` take)."""
        return f"ws://{DEFAULT_HOST}:{self.rpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{DEFAULT_HOST}:{self.rpc_port}"

    @property
    def multiaddr(self) -> str:
        """Its libp2p address, as ``--bootnodes`` takes it."""
        return f"/ip4/{DEFAULT_HOST}/tcp/{self.p2p_port}/p2p/{self.peer_id}"

    @property
    def alive(self) -> bool:
        """Whether the process of its last start still runs."""
        return self.pid > 0 and process_started(self.pid) == self.started


@dataclass(frozen=True)
class NetworkInfo:
    """A network as recorded in its state dir."""

    dir: str
    binary: str
    spec: str
    """The raw chain spec every node runs."""
    wasm_cache: str
    nodes: tuple[NodeInfo, ...]

    @property
    def validators(self) -> tuple[NodeInfo, ...]:
        return tuple(n for n in self.nodes if n.role == "validator")

    @property
    def full_nodes(self) -> tuple[NodeInfo, ...]:
        return tuple(n for n in self.nodes if n.role == "full")

    @property
    def urls(self) -> tuple[str, ...]:
        """WebSocket URLs of every node, validators first."""
        return tuple(n.ws_url for n in self.nodes)

    def node(self, name: str) -> NodeInfo:
        """The node called *name*; :class:`UsageError` if there is none."""
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise UsageError(f"no node {name!r} in the network (nodes: {known})")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NetworkInfo:
        nodes = tuple(NodeInfo(**node) for node in data["nodes"])
        return cls(
            dir=data["dir"],
            binary=data["binary"],
            spec=data["spec"],
            wasm_cache=data["wasm_cache"],
            nodes=nodes,
        )


@dataclass(frozen=True)
class NodeStatus:
    """What a node reports now (the numbers are None when its RPC does not answer)."""

    name: str
    role: Role
    pid: int
    alive: bool
    """Whether its process runs."""
    url: str
    best: int | None
    """Number of its best block."""
    finalized: int | None
    """Number of its last finalized block."""
    peers: int | None
    syncing: bool | None
    error: str | None = None
    """Why its RPC did not answer, if it did not."""


def node_binary(binary: Path | str | None = None) -> Path:
    """The ``ccnet-node`` binary: *binary*, else ``$CCNET_NODE_BIN``, else
    ``$CCNET_NODE_TARGET_DIR/debug/ccnet-node``, else :data:`DEFAULT_NODE_BIN`
    (expanded); :class:`NodeBinaryNotFoundError` if it is not an executable file."""
    target = os.environ.get(NODE_TARGET_ENV)
    default = Path(target) / "debug" / "ccnet-node" if target else DEFAULT_NODE_BIN
    chosen = Path(binary or os.environ.get(NODE_BIN_ENV) or default).expanduser()
    if not chosen.is_file() or not os.access(chosen, os.X_OK):
        raise NodeBinaryNotFoundError(chosen)
    return chosen.resolve()


def finality_warning(validators: int) -> str | None:
    """Why a network of *validators* authorities' nodes will not finalize, or None."""
    if validators >= FINALITY_QUORUM:
        return None
    return (
        f"only {validators} of the {len(AUTHORITIES)} authorities run: blocks are produced "
        f"(in their slots only) but GRANDPA needs {FINALITY_QUORUM} of {len(AUTHORITIES)} "
        "to finalize, so nothing will be finalized"
    )


def _free_ports(count: int) -> list[int]:
    """*count* distinct free TCP ports on 127.0.0.1 (all bound at once, then released)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((DEFAULT_HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def rpc_call(
    url: str, method: str, params: Sequence[Any] = (), *, timeout: float = _RPC_TIMEOUT
) -> Any:
    """Call JSON-RPC *method* on the node at *url* (``http://``) and return its result;
    :class:`LocalNetworkError` if it answers with an error, ``OSError`` if it does not
    answer within *timeout* seconds."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with _NO_PROXY.open(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise LocalNetworkError(f"{method} at {url} failed: {reply['error']}")
    return reply.get("result")


class LocalNetwork:
    """*validators* (1..4: Alice first) and *full_nodes* nodes of the ``local`` chain,
    owned through a state dir.

    Use :meth:`start` / :meth:`stop` (both idempotent) or ``with LocalNetwork(...) as
    net:`` (a fixture). Fewer than 3 validators produce blocks but finalize none
    (:func:`finality_warning`, logged at start). Waits are bounded in blocks of
    :data:`BLOCK_TIME_MS`. Blocking; raises :class:`LocalNetworkError` (and
    :class:`NodeBinaryNotFoundError`), :class:`UsageError` for bad counts.
    """

    def __init__(
        self,
        validators: int = len(AUTHORITIES),
        full_nodes: int = 0,
        *,
        root: Path | None = None,
        state_dir: Path | None = None,
        binary: Path | str | None = None,
        spec: Path | None = None,
        wasm_cache: Path | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        if not 1 <= validators <= len(AUTHORITIES):
            raise UsageError(
                f"the local chain has {len(AUTHORITIES)} authorities "
                f"({', '.join(AUTHORITIES)}): --validators must be 1..{len(AUTHORITIES)}, "
                f"got {validators}"
            )
        if not 0 <= full_nodes <= MAX_FULL_NODES:
            raise UsageError(f"--full-nodes must be 0..{MAX_FULL_NODES}, got {full_nodes}")
        self.validators = validators
        self.full_nodes = full_nodes
        self.__root = (root or find_root()).resolve()
        self.__dir = (self.__root / (state_dir or DEFAULT_STATE_DIR)).resolve()
        self.__binary = binary
        self.__spec = (self.__root / (spec or DEFAULT_SPEC)).resolve()
        self.__wasm_cache = (wasm_cache or cache_root() / WASM_CACHE_NAME).expanduser()
        self.__start_timeout = start_timeout
        self.__processes: dict[str, subprocess.Popen[bytes]] = {}

    # -- state ---------------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        """The state dir: ``network.json``, base paths, pid files and logs."""
        return self.__dir

    def recorded(self) -> NetworkInfo | None:
        """The network recorded in the state dir (running or not), or None."""
        try:
            return NetworkInfo.from_json(json.loads((self.__dir / INFO_FILE).read_text()))
        except (FileNotFoundError, ValueError, TypeError, KeyError):
            return None

    def status(self) -> NetworkInfo | None:
        """The recorded network if any of its nodes runs, else None."""
        info = self.recorded()
        if info is None or not any(node.alive for node in info.nodes):
            return None
        return info

    @property
    def info(self) -> NetworkInfo:
        """The recorded network; :class:`LocalNetworkError` if there is none."""
        info = self.recorded()
        if info is None:
            raise LocalNetworkError(f"no local network recorded in {self.__dir}")
        return info

    def _record(self, info: NetworkInfo) -> None:
        path = self.__dir / INFO_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n")
        tmp.replace(path)

    def _update(self, node: NodeInfo) -> NetworkInfo:
        info = self.info
        nodes = tuple(node if n.name == node.name else n for n in info.nodes)
        if node.name not in {n.name for n in info.nodes}:
            nodes += (node,)
        info = replace(info, nodes=nodes)
        self._record(info)
        return info

    # -- start / stop --------------------------------------------------------------------

    def start(self) -> NetworkInfo:
        """Start the network at genesis (:data:`FRESH_STATE`) and wait until every node
        answers RPC and has a block past genesis (at most *start_timeout* seconds). A
        no-op if it already runs with the same validators and full nodes; a
        :class:`LocalNetworkError` if it runs with others, or cannot be started (what
        did start is stopped)."""
        if (running := self.status()) is not None:
            shape = (len(running.validators), len(running.full_nodes))
            if shape != (self.validators, self.full_nodes):
                raise LocalNetworkError(
                    f"a local network with {shape[0]} validators and {shape[1]} full nodes "
                    f"already runs ({self.__dir}); stop it first (`ccnet network stop`)"
                )
            logger.info("local network already running (%s)", self.__dir)
            return running
        binary = node_binary(self.__binary)
        if not self.__spec.is_file():
            raise SpecNotFoundError(self.__spec)
        earlier = self.recorded()
        self.stop()  # what is left of a network that died
        if warning := finality_warning(self.validators):
            logger.warning("%s", warning)
        names = [seed.lower() for seed in AUTHORITIES[: self.validators]]
        names += [f"full{i}" for i in range(1, self.full_nodes + 1)]
        self._wipe({*names, *(n.name for n in earlier.nodes)} if earlier else set(names))
        self.__wasm_cache.mkdir(parents=True, exist_ok=True)
        ports = _free_ports(2 * len(names))
        nodes: list[NodeInfo] = []
        for i, name in enumerate(names):
            role: Role = "validator" if i < self.validators else "full"
            p2p, rpc = ports[2 * i], ports[2 * i + 1]
            nodes.append(self._prepare(binary, name, role, p2p, rpc, self.__spec))
        info = NetworkInfo(
            dir=str(self.__dir),
            binary=str(binary),
            spec=str(self.__spec),
            wasm_cache=str(self.__wasm_cache),
            nodes=tuple(nodes),
        )
        self._record(info)
        deadline = time.monotonic() + self.__start_timeout
        try:
            # The first node alone until it answers: it fills the runtime cache the
            # others then start from, and it is their boot node.
            first = self._spawn(nodes[0])
            self._wait_rpc(first, deadline)
            for node in nodes[1:]:
                self._spawn(node)
            for node in self.info.nodes:
                self._wait_rpc(node, deadline)
            self._wait_blocks(self.info.nodes, deadline)
        except BaseException:
            self.stop()
            raise
        return self.info

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop every node (SIGTERM to its process group, SIGKILL after *timeout*
        seconds); returns whether any ran. The base paths, logs and ``network.json``
        (without pids) stay until the next start."""
        info = self.recorded()
        was_running = False
        if info is not None:
            for node in info.nodes:
                was_running |= self._kill(node, timeout)
            # Kept without pids: the next start knows which base paths to wipe.
            stopped = tuple(replace(node, pid=0, started=0) for node in info.nodes)
            self._record(replace(info, nodes=stopped))
        for proc in self.__processes.values():
            proc.poll()  # reap
        self.__processes.clear()
        return was_running

    def stop_node(self, name: str, timeout: float = 15.0) -> bool:
        """Stop node *name* (SIGTERM, SIGKILL after *timeout* seconds), keeping its base
        path for :meth:`start_node`; returns whether it ran."""
        node = self.info.node(name)
        was_running = self._kill(node, timeout)
        self._update(replace(node, pid=0, started=0))
        return was_running

    def start_node(self, name: str, *, timeout: float | None = None) -> NodeInfo:
        """Start the stopped node *name* again with its base path, keys and ports, and
        wait until it answers RPC (at most *timeout* seconds, default *start_timeout*).
        A no-op if it runs."""
        node = self.info.node(name)
        if node.alive:
            return node
        node = self._spawn(node)
        self._wait_rpc(node, time.monotonic() + (timeout or self.__start_timeout))
        return node

    def add_full_node(self, name: str | None = None, *, timeout: float | None = None) -> NodeInfo:
        """Prepare and start one more non-validator node (name ``fullN`` by default),
        booting from the first node, and wait until it answers RPC (not until it has
        synced: see :meth:`wait_until`)."""
        info = self.info
        name = name or f"full{len(info.full_nodes) + 1}"
        if name in {n.name for n in info.nodes}:
            raise UsageError(f"the network already has a node {name!r}")
        p2p, rpc = _free_ports(2)
        node = self._prepare(node_binary(info.binary), name, "full", p2p, rpc, Path(info.spec))
        self._update(node)
        node = self._spawn(node)
        self._wait_rpc(node, time.monotonic() + (timeout or self.__start_timeout))
        return node

    def __enter__(self) -> LocalNetwork:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- queries -------------------------------------------------------------------------

    def rpc(self, name: str, method: str, params: Sequence[Any] = ()) -> Any:
        """Call JSON-RPC *method* on node *name*; :class:`LocalNetworkError` if it fails
        or does not answer within 5 s."""
        node = self.info.node(name)
        try:
            return rpc_call(node.http_url, method, params)
        except (OSError, ValueError) as err:
            raise LocalNetworkError(
                f"node {name} ({node.http_url}) did not answer {method}: {err}"
            ) from None

    def best_number(self, name: str) -> int:
        """Number of node *name*'s best block."""
        return int(self.rpc(name, "chain_getHeader")["number"], 16)

    def finalized_number(self, name: str) -> int:
        """Number of node *name*'s last finalized block."""
        head = self.rpc(name, "chain_getFinalizedHead")
        return int(self.rpc(name, "chain_getHeader", [head])["number"], 16)

    def block_hash(self, name: str, number: int) -> str | None:
        """Hash (0x hex) of block *number* on node *name*'s best chain, or None."""
        found = self.rpc(name, "chain_getBlockHash", [number])
        return str(found) if found else None

    def node_status(self, name: str) -> NodeStatus:
        """What node *name* reports now (never raises for a node that does not answer)."""
        node = self.info.node(name)
        alive = node.alive
        best = finalized = peers = None
        syncing = None
        error = None if alive else "not running"
        if alive:
            try:
                health = rpc_call(node.http_url, "system_health")
                peers, syncing = int(health["peers"]), bool(health["isSyncing"])
                best = int(rpc_call(node.http_url, "chain_getHeader")["number"], 16)
                head = rpc_call(node.http_url, "chain_getFinalizedHead")
                header = rpc_call(node.http_url, "chain_getHeader", [head])
                finalized = int(header["number"], 16)
            except (OSError, ValueError, KeyError, TypeError, LocalNetworkError) as err:
                error = str(err) or type(err).__name__
        return NodeStatus(
            name=node.name,
            role=node.role,
            pid=node.pid,
            alive=alive,
            url=node.ws_url,
            best=best,
            finalized=finalized,
            peers=peers,
            syncing=syncing,
            error=error,
        )

    def statuses(self) -> list[NodeStatus]:
        """:meth:`node_status` of every recorded node, validators first."""
        return [self.node_status(node.name) for node in self.info.nodes]

    def wait_until(self, what: str, condition: Callable[[], bool], *, blocks: int) -> None:
        """Poll *condition* until true, for at most *blocks* block times
        (:data:`BLOCK_TIME_MS` each); :class:`LocalNetworkError` naming *what* after.
        A :class:`LocalNetworkError` raised by *condition* (a node not answering) counts
        as false."""
        seconds = blocks * BLOCK_TIME_MS / 1000
        deadline = time.monotonic() + seconds
        while True:
            try:
                if condition():
                    return
            except LocalNetworkError as err:
                logger.debug("waiting for %s: %s", what, err)
            if time.monotonic() >= deadline:
                raise LocalNetworkError(
                    f"{what}: not within {blocks} blocks ({seconds:.0f} s); logs in {self.__dir}"
                )
            time.sleep(_POLL)

    def wait_for_height(
        self,
        number: int,
        *,
        finalized: bool = False,
        nodes: Iterable[str] | None = None,
        blocks: int | None = None,
    ) -> None:
        """Wait until every node in *nodes* (default: all running) has a best (or
        *finalized*) block number >= *number*; at most *blocks* block times (default:
        the blocks still to come, plus 10)."""
        names = list(nodes) if nodes is not None else [n.name for n in self.info.nodes if n.alive]
        read = self.finalized_number if finalized else self.best_number
        kind = "finalized" if finalized else "best"
        if blocks is None:
            blocks = max(number - min(read(n) for n in names), 0) + 10
        self.wait_until(
            f"{kind} block #{number} on {', '.join(names)}",
            lambda: all(read(name) >= number for name in names),
            blocks=blocks,
        )

    # -- internals -----------------------------------------------------------------------

    def _wipe(self, names: set[str]) -> None:
        """Remove the base paths, logs and pid files of nodes *names* from the state dir
        (only those: a state dir given by mistake loses nothing else)."""
        self.__dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            base = self.__dir / name
            if base.is_dir() and not base.is_symlink():
                shutil.rmtree(base)
            for leftover in (base, self.__dir / f"{name}.log", self.__dir / f"{name}.pid"):
                if leftover.is_symlink() or leftover.is_file():
                    leftover.unlink()

    def _tool(self, binary: Path, args: list[str]) -> str:
        """Run a ``ccnet-node`` subcommand; its stderr (where ``key`` prints)."""
        try:
            done = subprocess.run(
                [str(binary), *args], capture_output=True, text=True, timeout=120, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise LocalNetworkError(f"{binary} {args[0]} {args[1]} failed: {err}") from None
        if done.returncode != 0:
            raise LocalNetworkError(
                f"{binary} {' '.join(args)} exited with code {done.returncode}",
                log_tail=(done.stderr or done.stdout)[-2000:],
            )
        return done.stderr

    def _prepare(
        self, binary: Path, name: str, role: Role, p2p: int, rpc: int, spec: Path
    ) -> NodeInfo:
        """Base path, keys and runtime-cache link of a new node."""
        base = self.__dir / name
        common = ["--base-path", str(base), "--chain", str(spec)]
        if role == "validator":
            seed = AUTHORITIES[[s.lower() for s in AUTHORITIES].index(name)]
            for scheme, key_type in (("sr25519", "aura"), ("ed25519", "gran")):
                self._tool(
                    binary,
                    ["key", "insert", *common, "--scheme", scheme, "--suri", f"//{seed}"]
                    + ["--key-type", key_type],
                )
        out = self._tool(binary, ["key", "generate-node-key", *common])
        peer_id = out.strip().splitlines()[-1].strip() if out.strip() else ""
        if not _PEER_ID.match(peer_id):
            raise LocalNetworkError(f"key generate-node-key printed no peer id: {out!r}")
        chain_dir = base / "chains" / CHAIN_ID
        chain_dir.mkdir(parents=True, exist_ok=True)
        (chain_dir / "wasm-cache").symlink_to(self.__wasm_cache, target_is_directory=True)
        return NodeInfo(
            name=name,
            role=role,
            base_path=str(base),
            p2p_port=p2p,
            rpc_port=rpc,
            peer_id=peer_id,
            log=str(self.__dir / f"{name}.log"),
        )

    def _spawn(self, node: NodeInfo) -> NodeInfo:
        """Start *node*'s process (own session and process group) and record its pid."""
        info = self.info
        binary = node_binary(info.binary)
        args = [str(binary), "--chain", info.spec, "--base-path", node.base_path]
        args += ["--name", node.name, "--listen-addr", f"/ip4/{DEFAULT_HOST}/tcp/{node.p2p_port}"]
        args += ["--rpc-port", str(node.rpc_port), "--no-mdns", "--no-prometheus", "--no-telemetry"]
        if node.role == "validator":
            args.append("--validator")
            if len(info.nodes) == 1:  # Aura skips its slots while it has no peers
                args.append("--force-authoring")
        # The first node boots the others; restarted itself, it finds them again.
        boots = [n.multiaddr for n in info.nodes if n.name != node.name]
        if boots and node.name != info.nodes[0].name:
            boots = boots[:1]
        if boots:
            args += ["--bootnodes", *boots]
        logger.info("starting %s", " ".join(args))
        with open(node.log, "ab") as log:
            # Own session: stop signals the whole group, a Ctrl-C in the terminal that
            # ran `ccnet network start` does not reach it.
            proc = subprocess.Popen(
                args,
                cwd=self.__dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.__processes[node.name] = proc
        (self.__dir / f"{node.name}.pid").write_text(f"{proc.pid}\n")
        node = replace(node, pid=proc.pid, started=process_started(proc.pid) or 0)
        self._update(node)
        return node

    def _kill(self, node: NodeInfo, timeout: float) -> bool:
        """Stop *node*'s process group; returns whether its process ran."""
        ran = node.alive
        own = self.__processes.pop(node.name, None)
        # Only a process recorded with its start time: a pid (and group id) reused by
        # another program after the node died is left alone. The node has no children.
        if ran and not stop_group(node.pid, timeout, f"node {node.name}"):
            raise LocalNetworkError(f"could not stop node {node.name} (process group {node.pid})")
        if own is not None:
            own.wait(timeout=5)  # reap: no zombie
        (self.__dir / f"{node.name}.pid").unlink(missing_ok=True)
        return ran

    def _log_tail(self, node: NodeInfo, lines: int = 30) -> str:
        try:
            text = _ANSI.sub("", Path(node.log).read_text(errors="replace"))
        except FileNotFoundError:
            text = ""
        return "\n".join(text.splitlines()[-lines:]) or "(the log is empty)"

    def _check_alive(self, node: NodeInfo) -> None:
        own = self.__processes.get(node.name)
        code = own.poll() if own is not None else None
        if code is not None or not node.alive:
            raise LocalNetworkError(
                f"node {node.name} exited (code {code}; log: {node.log})",
                log_tail=self._log_tail(node),
            )

    def _wait_rpc(self, node: NodeInfo, deadline: float) -> None:
        """Wait until *node* answers ``system_health``, or fail at *deadline*."""
        while True:
            self._check_alive(node)
            try:
                rpc_call(node.http_url, "system_health", timeout=2.0)
                return
            except (OSError, ValueError, LocalNetworkError):
                pass
            if time.monotonic() >= deadline:
                raise LocalNetworkError(
                    f"node {node.name} did not answer RPC at {node.http_url} within "
                    f"{self.__start_timeout:.0f} s (log: {node.log})",
                    log_tail=self._log_tail(node),
                )
            time.sleep(_POLL)

    def _wait_blocks(self, nodes: Sequence[NodeInfo], deadline: float) -> None:
        """Wait until every node of *nodes* has a best block past genesis."""
        pending = list(nodes)
        while pending:
            for node in list(pending):
                self._check_alive(node)
                try:
                    header = rpc_call(node.http_url, "chain_getHeader", timeout=2.0)
                    if int(header["number"], 16) >= 1:
                        pending.remove(node)
                except (OSError, ValueError, KeyError, TypeError, LocalNetworkError):
                    pass
            if pending and time.monotonic() >= deadline:
                names = ", ".join(n.name for n in pending)
                raise LocalNetworkError(
                    f"no block past genesis on {names} within {self.__start_timeout:.0f} s "
                    f"(logs in {self.__dir})",
                    log_tail=self._log_tail(pending[0]),
                )
            if pending:
                time.sleep(_POLL)
