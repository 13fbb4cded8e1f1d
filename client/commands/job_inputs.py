"""What ``ccnet job run`` and ``ccnet job resume`` share: the options' defaults and
types, reading and checking the job's arguments (module, input, output: all before any
key, chain or network), the worst case of a run, and the bound on a DHT lookup."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..clock import now_ms
from ..exceptions import (
    InvalidJobModuleError,
    NoWorkersFoundError,
    UsageError,
    UserError,
)
from ..jobs.proofs import JOB_CIRCUITS
from ._common import CliContext, write_durably
from .worker import parse_bootstrap

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..net.webrtc import PeerConfig
    from ..requester.discovery import WorkerOffer

__all__ = [
    "BootstrapOpt",
    "DEFAULT_DEPOSIT",
    "DEFAULT_MAX_COST",
    "DISCOVERY_TIMEOUT_S",
    "STDIO",
    "TASK_TYPE",
    "U64_MAX",
    "JobArgs",
    "VerifyMode",
    "check_fits",
    "check_output",
    "discovery_deadline",
    "hex_or_none",
    "parse_bootstrap_options",
    "quiet_dht_logs",
    "read_input",
    "read_module",
    "worst_case_planck",
    "write_output",
]

TASK_TYPE = "wasm"
DEFAULT_DEPOSIT = "10"
"""CC locked in each new channel to a worker when ``--deposit`` is not given."""
DISCOVERY_TIMEOUT_S = 60.0
"""Longest a DHT lookup for workers may take, s: a malicious node can keep a lookup
crawling (ever closer ids) or hand it thousands of records to check on chain."""
DEFAULT_MAX_COST = "1"
"""CC a run may cost at most when ``--max-cost`` is not given: there is always a
budget, and workers priced above it for one job are not used."""
STDIO = "-"
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
U64_MAX = 2**64 - 1


class VerifyMode(StrEnum):
    """``--verify``: the SDK's modes (:func:`~ccnet.client.requester.verdicts.plan_verification`)
    but ``spot``, which needs a known answer the CLI does not have."""

    AUTO = "auto"
    NONE = "none"
    MAJORITY = "majority"
    PROOF = "proof"


BootstrapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--dht-bootstrap",
        help="DHT node to join, HOST:PORT (a worker's dht_host:dht_port); repeat, or "
        "separate with commas [default: the workers registered on chain].",
        envvar="CCNET_DHT_BOOTSTRAP",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class JobArgs:
    wasm: bytes
    input: bytes
    args: tuple[str, ...]
    output: str
    redundancy: int | None
    verify: str
    proof: str | None
    max_cost: int
    fuel_limit: int
    deposit: int
    timeout: float
    bootstrap: tuple[tuple[str, int], ...]
    state_dir: Path | None
    close_channels: bool
    dht_host: str = "127.0.0.1"
    peer: PeerConfig | None = None


def quiet_dht_logs(cli: CliContext) -> None:
    """Unless ``-v``: keep the DHT libraries' reports of peers that do not answer (a
    node that went away, such as an earlier requester's, is routine: rpcudp's "Did not
    receive reply", kademlia's "no response from") off stderr, which carries the
    outcome."""
    if not cli.verbose:
        for name in ("rpcudp", "kademlia"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def parse_bootstrap_options(values: Sequence[str] | None) -> tuple[tuple[str, int], ...]:
    """The (host, port) DHT nodes of ``--dht-bootstrap`` values (each may list several,
    comma-separated; none: join through the workers registered on chain).
    :class:`UsageError` if one is malformed."""
    nodes: list[tuple[str, int]] = []
    for value in values or ():
        try:
            nodes += parse_bootstrap(value)
        except UserError as err:
            raise UsageError(str(err)) from None
    return tuple(nodes)


def read_input(spec: str | None) -> bytes:
    """The job's stdin: nothing (None), our stdin (``-``) or a file. A URL of any scheme
    (``ar://...``, ``https://...``) raises :class:`UsageError`: the CLI sends only bytes
    it has, never a reference for the worker to fetch."""
    if spec is None:
        return b""
    if spec == STDIO:
        return sys.stdin.buffer.read()
    if scheme := _URL.match(spec):
        raise UsageError(
            f"--input {spec!r}: {scheme[1]}:// inputs are not supported; give a file path, "
            "or - to read stdin (e.g. download the data first, then --input FILE)"
        )
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UsageError(f"--input {spec!r}: no such file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise UsageError(f"--input {spec!r}: cannot read it ({err.strerror})") from None


def check_output(spec: str) -> None:
    """Fail now, before anything is paid, if ``--output`` *spec* cannot be written: its
    directory must exist and it must not be a directory."""
    if spec == STDIO:
        return
    if _URL.match(spec):
        raise UsageError(f"--output {spec!r}: give a file path, or - for stdout")
    path = Path(spec).expanduser()
    if path.is_dir():
        raise UsageError(f"--output {spec!r} is a directory; name a file")
    if not path.parent.is_dir():
        raise UsageError(f"--output {spec!r}: directory {str(path.parent)!r} does not exist")


def read_module(path: Path) -> bytes:
    """The module's bytes, checked (:func:`~ccnet.client.requester.modules.check_module`)."""
    from ..requester.modules import check_module

    try:
        wasm = path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read module {str(path)!r} ({err.strerror})") from None
    check_module(wasm)
    return wasm


def check_fits(wasm: bytes, data: bytes, args: tuple[str, ...], fuel_limit: int) -> None:
    """Fail before anything is sent when the module or the input cannot travel: each goes
    in one job-protocol message (base64 in JSON) of at most
    :data:`~ccnet.client.jobs.messages.MAX_MESSAGE_SIZE` bytes. A module that does not
    fit raises :class:`InvalidJobModuleError`; an input (with its arguments)
    :class:`UserError`. The request is sized with every optional field at its widest."""
    from ..exceptions import MalformedMessageError
    from ..jobs.catalogue import module_hash
    from ..jobs.messages import MAX_MESSAGE_SIZE, JobRequest, ModuleData, encode

    try:
        encode(ModuleData(b"\0" * 16, wasm))
    except MalformedMessageError:
        raise InvalidJobModuleError(
            f"the module ({len(wasm):,} bytes) does not fit one message "
            f"({MAX_MESSAGE_SIZE:,} bytes, base64-encoded)"
        ) from None
    widest = JobRequest(
        job_id=b"\0" * 16,
        module_hash=module_hash(wasm),
        input=data,
        args=args,
        fuel_limit=fuel_limit,
        timeout_ms=2**32 - 1,
        memory_bytes=2**32 - 1,
        rate_planck_per_fuel=2**128 - 1,
        seed=b"\xff" * 32,
        proof=max(JOB_CIRCUITS, key=len),
        channel_id=b"\0" * 32,
        task_id=U64_MAX,
    )
    try:
        encode(widest)
    except MalformedMessageError:
        raise UserError(
            f"the input ({len(data):,} bytes) and arguments do not fit one job message "
            f"({MAX_MESSAGE_SIZE:,} bytes, base64-encoded)",
            hint="split the input into several jobs",
        ) from None


def worst_case_planck(offers: Sequence[WorkerOffer], fuel_limit: int, *, spot_check: bool) -> int:
    """The most a job may cost, planck: each worker in *offers* paid for *fuel_limit*
    fuel at its announced rate (a payment never exceeds the reservation the SDK makes,
    :mod:`~ccnet.client.requester.runs`), plus, with *spot_check* (``--verify auto``
    may mix one in, at the same fuel limit), one more such job at the highest rate."""
    from ..jobs.billing import price

    costs = [price(fuel_limit, o.price_planck_per_fuel) for o in offers]
    return sum(costs) + (max(costs) if spot_check and costs else 0)


def write_output(spec: str, data: bytes, fallback_dir: Path) -> str:
    """Write the paid-for output to *spec* (stdout for ``-``; a file atomically, fsynced).
    Should that fail, keep it in *fallback_dir* and raise :class:`UserError` naming it,
    so that nothing paid for is lost. Returns where it went."""
    if spec == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return STDIO
    path = Path(spec).expanduser()
    try:
        write_durably(path, data)
    except OSError as err:
        fallback_dir.mkdir(parents=True, exist_ok=True)
        kept = fallback_dir / f"output-{os.getpid()}-{now_ms()}.bin"
        write_durably(kept, data)
        raise UserError(
            f"cannot write --output {spec!r} ({err.strerror}); the output is kept in {kept}"
        ) from None
    return str(path)


@asynccontextmanager
async def discovery_deadline() -> AsyncIterator[None]:
    """Bound a DHT lookup by :data:`DISCOVERY_TIMEOUT_S`; :class:`NoWorkersFoundError` after."""
    try:
        async with asyncio.timeout(DISCOVERY_TIMEOUT_S):
            yield
    except TimeoutError:
        raise NoWorkersFoundError(
            f"the DHT lookup for workers did not finish in {DISCOVERY_TIMEOUT_S:.0f} s"
        ) from None


def hex_or_none(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()
