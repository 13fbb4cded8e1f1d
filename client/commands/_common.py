"""Shared plumbing of the ``ccnet`` command groups: context, output, errors, amounts.

Every group module (``client/commands/<area>.py``) exposes ``app = typer.Typer(...)``,
registered in ``client/cli.py`` with one ``app.add_typer(...)`` line. A command::

    from ._common import CliContext, KeyOpt

    @app.command()
    def show(ctx: typer.Context, task_id: int, key: KeyOpt = "//Alice") -> None:
        \"\"\"Show a task.\"\"\"
        cli = CliContext.of(ctx)
        with cli.errors():                      # CcnetError -> message + exit code
            chain = cli.chain()                 # connected once, closed at exit
            signer = cli.keypair(key)           # //Dev URI or keystore name (+ passphrase)
            info = chain.tasks.task(task_id)
            if info is None:
                raise NotFoundError(f"no task {task_id}")
            cli.emit(info, human=lambda: cli.table("Task", rows))   # --json aware

Global options live on the root callback (``ccnet --url URL --keystore DIR --json -v``;
they may also follow the subcommand: :mod:`ccnet.client.commands._global_options`),
resolved by :func:`ccnet.client.config.resolve_settings` (option > env > config file >
default). Exit codes (:func:`exit_code_for`): 0 ok, 1 user error, 2 usage (typer, or an
unreadable amount), 3 chain or dispatch error, 4 not found; ``ccnet job``: 6 no workers,
7 over budget, 8 results rejected, 9 invalid module. Errors print ``error: ...``
(with a hint) on stderr, or ``{"error": {...}}`` on stdout with ``--json``; never a
traceback for a :class:`CcnetError` (``-v`` logs it at debug level). Tests replace
:data:`connect` to fake the chain.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from substrateinterface.utils.ss58 import is_valid_ss58_address

from .. import CC
from ..chain import Chain, Wait
from ..config import Settings, resolve_settings
from ..courtsecrets import CourtSecrets
from ..exceptions import (
    BudgetExceededError,
    CcnetError,
    ChainConnectionError,
    ChainRequestError,
    DispatchError,
    ExtrinsicError,
    InvalidJobModuleError,
    JobUnfinishedError,
    NotFoundError,
    NoWorkersFoundError,
    ResultsRejectedError,
    UsageError,
    UserError,
)
from ..keys import Keypair, is_dev_uri
from ..keystore import Keystore
from ..signing import SS58_FORMAT

__all__ = [
    "CliContext",
    "ExitCode",
    "KeyOpt",
    "connect",
    "exit_code_for",
    "format_cc",
    "parse_amount",
    "to_jsonable",
]

logger = logging.getLogger(__name__)

PASSPHRASE_ENV = "CCNET_PASSPHRASE"
_MAX_TABLE_WIDTH = 100_000
"""Columns a table may take (beyond any terminal: a table is never squeezed)."""


class ExitCode(IntEnum):
    """What the exit status of ``ccnet`` means."""

    OK = 0
    USER = 1
    """Bad input: an invalid key, passphrase or config, a refused request."""
    USAGE = 2
    """Unknown command or option (typer/click), or a value that cannot be read without
    guessing, such as the amount ``1,5`` (:class:`UsageError`)."""
    CHAIN = 3
    """The chain is unreachable, refused the extrinsic, or the call failed in the runtime."""
    NOT_FOUND = 4
    """The key, task, dispute ... asked for does not exist."""
    # 5: a check of ``ccnet demo`` failed (see ccnet.client.commands.demo)
    NO_WORKERS = 6
    """A job found fewer eligible workers than it needs (:class:`NoWorkersFoundError`)."""
    OVER_BUDGET = 7
    """A job's worst-case cost is over ``--max-cost``; nothing was sent
    (:class:`BudgetExceededError`)."""
    RESULTS_REJECTED = 8
    """No result of a job was accepted: the workers disagree, or none was valid; nobody
    was paid (:class:`ResultsRejectedError`)."""
    INVALID_MODULE = 9
    """A job module is not Wasm or does not validate; nothing was sent
    (:class:`InvalidJobModuleError`)."""
    JOB_UNFINISHED = 10
    """A job with VM checkpoints ended without a result (every worker was lost or
    failed); its job file lets ``ccnet job resume`` continue it
    (:class:`JobUnfinishedError`)."""


KeyOpt = Annotated[
    str,
    typer.Option(
        "--key",
        "-k",
        help="Signing key: a keystore name, or a dev URI such as //Alice.",
        envvar="CCNET_KEY",
    ),
]


def court_secrets(settings: Settings, address: str) -> CourtSecrets:
    """Where the CLI keeps the salts of *address*'s commitments: beside the keystore,
    ``court-secrets/<address>.json`` (see :mod:`ccnet.client.courtsecrets`)."""
    return CourtSecrets(Path(settings.keystore).parent / "court-secrets" / f"{address}.json")


def connect(url: str, wait: Wait = "inclusion") -> Chain:
    """Open the chain the commands use, its extrinsics waiting for *wait* (tests
    replace this to fake the chain)."""
    return Chain(url, wait=wait)


_HINTS: dict[tuple[str, str], str] = {
    ("Credits", "InsufficientStake"): "stake first: the account has less active stake",
    ("Credits", "StakeBonded"): (
        "that stake is bonded to open claims or verifier duties "
        "(`ccnet stake status`); unbond it once they are settled"
    ),
    ("Credits", "InsufficientBalance"): "fund the account (see `ccnet balance`)",
    ("Token", "FundsUnavailable"): "the free balance cannot cover it (`ccnet balance`)",
    ("Token", "NotExpendable"): (
        "the sender must keep Balances.ExistentialDeposit after the fee; send less"
    ),
    ("Arithmetic", "Underflow"): "the amount is more than the account holds (`ccnet balance`)",
    ("Token", "BelowMinimum"): (
        "a new account must receive at least Balances.ExistentialDeposit; send more"
    ),
    ("Tasks", "InsufficientStake"): (
        "not enough free stake: registering needs Tasks.MinWorkerStake, each claim bonds "
        "Tasks.ClaimBond more (`ccnet stake add`)"
    ),
    ("Tasks", "InsufficientBalance"): "bounty, task deposit and fees exceed the free balance",
    ("Tasks", "DeadlineInPast"): "pick a deadline after the current block",
    ("Tasks", "UnknownTask"): "check the task id with `ccnet task status ID`",
    ("Tasks", "WindowOpen"): "the challenge window is still open: finalize after it",
    ("Tasks", "DisputeOpen"): "a dispute over the task is open: finalize once it is resolved",
    ("Tasks", "NotUnanimous"): "only a unanimous task is paid early; `ccnet task finalize` later",
    ("Tasks", "NotReapable"): "a task can be reaped Tasks.TaskRetention blocks after it finished",
    ("Tasks", "NotRequester"): "only the requester may accept; anyone may finalize later",
    ("Tasks", "NoResult"): "that worker revealed no result; name one that did (--worker)",
    ("Tasks", "NotClaimed"): "that account holds no claim on the task (`ccnet task status ID`)",
    ("Tasks", "TaskNotOpen"): "the task is settled already (`ccnet task status ID`)",
    ("Tasks", "HasResults"): "a result was revealed: `ccnet task finalize` after the window",
    ("Tasks", "RevealNotOpen"): (
        "too early: reveals open after the deadline; expire works after the reveal "
        "period (`ccnet task status ID`)"
    ),
    ("Tasks", "NotRegistered"): "the account is not a registered worker (`ccnet worker status`)",
    ("Tasks", "WorkerBusy"): (
        "the worker still holds open claims (`ccnet task list --worker ADDRESS`); "
        "deregister once they are finalized"
    ),
    ("Tasks", "WorkerBanned"): "a banned worker may leave after its ban (`ccnet worker status`)",
    ("Disputes", "NotDisputable"): (
        "the worker has no revealed result open to challenge (none, disputed or judged "
        "already, or the challenge window closed)"
    ),
    ("Disputes", "NoVerifiers"): "register more workers: verifiers are drawn among them",
    ("Disputes", "NotVerifier"): "only the drawn verifiers may vote (`ccnet dispute status`)",
    ("Disputes", "NotDrawn"): "verifiers are drawn Disputes.DrawDelay blocks after the challenge",
    ("Disputes", "RevealNotOpen"): "reveals open once all verifiers committed or after commit_ends",
    ("Disputes", "VotingOpen"): "wait for the reveal phase to end, then resolve",
    ("Disputes", "InsufficientBalance"): "a challenge holds Disputes.ChallengeStake",
}


_JOB_EXIT_CODES: tuple[tuple[type[CcnetError], ExitCode], ...] = (
    (NoWorkersFoundError, ExitCode.NO_WORKERS),
    (BudgetExceededError, ExitCode.OVER_BUDGET),
    (ResultsRejectedError, ExitCode.RESULTS_REJECTED),
    (InvalidJobModuleError, ExitCode.INVALID_MODULE),
    (JobUnfinishedError, ExitCode.JOB_UNFINISHED),
)


def exit_code_for(err: BaseException) -> ExitCode:
    """The exit code an error stands for."""
    if isinstance(err, UsageError):
        return ExitCode.USAGE
    for kind, code in _JOB_EXIT_CODES:
        if isinstance(err, kind):
            return code
    if isinstance(err, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(err, ChainConnectionError | ChainRequestError | ExtrinsicError | DispatchError):
        return ExitCode.CHAIN
    return ExitCode.USER


def hint_for(err: BaseException) -> str | None:
    """What the user may do about *err*, if known."""
    if isinstance(err, UserError):
        return err.hint
    if isinstance(err, DispatchError):
        return _HINTS.get((err.pallet, err.name))
    if isinstance(err, ExtrinsicError):
        return "the node refused it before inclusion; check the balance for fees and retry"
    return None


_CC_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?(?:\s*cc)?", re.ASCII | re.IGNORECASE)
_PLANCK_AMOUNT = re.compile(r"([0-9]+)\s*planck", re.ASCII | re.IGNORECASE)
_CC_DECIMALS = 12
_MAX_AMOUNT_CHARS = 64
MAX_PLANCK = 2**128 - 1
"""Largest balance of the runtime (u128), planck."""
AMOUNT_FORMS = "write CC as a plain decimal (10, 1.5, 0.000000000001, 2.5CC) or planck (1500planck)"


def parse_amount(text: str) -> int:
    """An amount in planck from CC written as a plain decimal with a dot and at most 12
    decimals (``"10"``, ``"1.5"``, ``"1.5CC"``, ``"0.000000000001"``) or from planck
    (``"1500planck"``). Anything else raises :class:`UsageError` (the CLI exits with
    code 2): digit separators (``1,5`` or ``1_000``: a comma is a decimal point in many
    locales), signs, exponents, NaN or infinity, more than 12 decimals, or more than the
    runtime's u128 balance. Exact: digits to integers, never floats."""
    raw = text.strip()
    if len(raw) > _MAX_AMOUNT_CHARS:  # also keeps int() away from its digit limit
        raise UsageError(f"not an amount: {text[:20]!r}... is more than a balance can hold")
    if planck_match := _PLANCK_AMOUNT.fullmatch(raw):
        planck = int(planck_match[1])
    elif cc_match := _CC_AMOUNT.fullmatch(raw):
        whole, frac = cc_match[1], cc_match[2] or ""
        if len(frac) > _CC_DECIMALS:
            raise UsageError(
                f"not an amount: {text!r} has more than {_CC_DECIMALS} decimals "
                "(1 planck = 0.000000000001 CC)"
            )
        planck = int(whole) * CC + int(frac.ljust(_CC_DECIMALS, "0") or 0)
    else:
        why = ""
        if "," in raw:
            why = " (',' is ambiguous: one and a half is 1.5, fifteen is 15)"
        elif "_" in raw:
            why = " (no '_' separators: one thousand is 1000)"
        elif raw.lstrip().startswith(("-", "+")):
            why = " (no sign: amounts are never negative)"
        raise UsageError(f"not an amount: {text!r}{why}; {AMOUNT_FORMS}")
    if planck > MAX_PLANCK:
        raise UsageError(f"not an amount: {text!r} is more than a balance can hold (u128 planck)")
    return planck


def format_cc(planck: int) -> str:
    """*planck* as CC with up to 12 decimals, e.g. ``"1.5 CC"``."""
    whole, frac = divmod(abs(planck), CC)
    sign = "-" if planck < 0 else ""
    text = f"{whole:,}" + (f".{frac:012d}".rstrip("0") if frac else "")
    return f"{sign}{text} CC"


def to_jsonable(value: Any) -> Any:
    """*value* made of JSON types: dataclasses as dicts, bytes as UTF-8 text or 0x hex,
    paths as strings, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "as_dict"):
            return to_jsonable(value.as_dict())
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return "0x" + bytes(value).hex()
    if isinstance(value, Path):
        return str(value)
    return value


class CliContext:
    """The state one ``ccnet`` run shares between the root callback and a command."""

    def __init__(
        self,
        settings: Settings,
        *,
        json_output: bool = False,
        verbose: bool = False,
        console: Console | None = None,
        err_console: Console | None = None,
    ) -> None:
        self.settings = settings
        self.json = json_output
        self.verbose = verbose
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.err_console = err_console or Console(stderr=True, highlight=False, soft_wrap=True)
        self._chain: Chain | None = None

    @classmethod
    def of(cls, ctx: typer.Context) -> CliContext:
        """The context of this run (made from the environment if the root callback did
        not run, e.g. when a group app is invoked on its own in a test)."""
        root = ctx.find_root()
        if not isinstance(root.obj, CliContext):
            root.obj = cls(resolve_settings())
            root.call_on_close(root.obj.close)
        return root.obj

    # -- resources ---------------------------------------------------------------------

    def chain(self) -> Chain:
        """The chain at ``--url``, connected on first use."""
        if self._chain is None:
            self._chain = connect(self.settings.url, self.settings.wait)
        return self._chain

    def close(self) -> None:
        if self._chain is not None:
            self._chain.close()
            self._chain = None

    def keystore(self) -> Keystore:
        return Keystore(self.settings.keystore)

    def passphrase(self, name: str, *, confirm: bool = False) -> str:
        """``$CCNET_PASSPHRASE``, else asked on the terminal (twice when *confirm*)."""
        if env := os.environ.get(PASSPHRASE_ENV):
            return env
        try:
            value: str = typer.prompt(
                f"Passphrase for key {name!r}", hide_input=True, confirmation_prompt=confirm
            )
        except typer.Abort:
            raise UserError(f"no passphrase given (set {PASSPHRASE_ENV} or type it)") from None
        return value

    def keypair(self, name_or_uri: str) -> Keypair:
        """A dev URI (``//Alice``) or a keystore key, opened with :meth:`passphrase`."""
        if is_dev_uri(name_or_uri):
            return self.keystore().resolve(name_or_uri)
        store = self.keystore()
        store.info(name_or_uri)  # KeyNotFoundError before asking for a passphrase
        return store.load(name_or_uri, lambda: self.passphrase(name_or_uri))

    def address(self, value: str) -> str:
        """An SS58 address as is, else the address of a dev URI or a stored key."""
        if is_valid_ss58_address(value, valid_ss58_format=SS58_FORMAT):
            return value
        if is_valid_ss58_address(value):
            raise UserError(f"{value} is an address of another network (ccnet uses prefix 42)")
        return self.keystore().address_of(value)

    # -- output ------------------------------------------------------------------------

    def emit(self, data: Any, *, human: Callable[[], Any] | str | None = None) -> None:
        """Print *data* as JSON with ``--json``; else print what *human* renders (a rich
        renderable, a string, or a function returning one), else *data* itself."""
        if self.json:
            self.console.print_json(json.dumps(to_jsonable(data)))
            return
        shown = human() if callable(human) else human
        if shown is None:
            self.console.print(to_jsonable(data))
        elif isinstance(shown, str):
            self.console.print(shown)
        else:
            # A table is printed at its natural width, wider than the terminal (or the
            # 80 columns assumed off a terminal) if need be: rich would otherwise shrink
            # its columns, wrapping or cutting ids and addresses.
            unlimited = self.console.options.update(width=_MAX_TABLE_WIDTH)
            natural = Measurement.get(self.console, unlimited, shown).maximum
            width = self.console.width
            self.console.width = max(width, natural)  # print(width=) cannot exceed it
            try:
                self.console.print(shown, crop=False)
            finally:
                self.console.width = width

    def info(self, message: str) -> None:
        """A progress note on stderr (not in ``--json`` output)."""
        if not self.json:
            self.err_console.print(message)

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        """A spinner on stderr while waiting on the chain (none with ``--json``)."""
        if self.json or not self.err_console.is_terminal:
            yield
            return
        with self.err_console.status(message):
            yield

    @staticmethod
    def table(
        title: str | None, rows: Sequence[Sequence[Any]], *, header: Sequence[str] = ()
    ) -> Table:
        """A rich table; without *header* a two-column key/value table. Cells never wrap
        (ids, hashes and addresses stay whole and copyable): :meth:`emit` prints it at
        its natural width. Amounts go in already formatted (:func:`format_cc`)."""
        table = Table(title=title, show_header=bool(header), title_justify="left")
        for column in header or ("", ""):
            table.add_column(column, no_wrap=True)
        for row in rows:
            table.add_row(*(escape(str(cell)) for cell in row))
        return table

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn a :class:`CcnetError` into a message and its exit code (no traceback)."""
        try:
            yield
        except CcnetError as err:
            self.fail(err)

    def fail(self, err: CcnetError) -> None:
        code = exit_code_for(err)
        hint = hint_for(err)
        logger.debug("command failed", exc_info=err)
        if self.json:
            payload: dict[str, Any] = {"type": type(err).__name__, "message": str(err)}
            if isinstance(err, DispatchError):
                payload.update(pallet=err.pallet, name=err.name, docs=err.docs)
            if hint:
                payload["hint"] = hint
            self.console.print_json(json.dumps({"error": payload, "exit_code": int(code)}))
        else:
            self.err_console.print(f"[red]error:[/red] {escape(str(err))}")
            if hint:
                self.err_console.print(f"hint: {escape(hint)}")
        raise typer.Exit(code=int(code))


def write_durably(path: Path, data: bytes) -> None:
    """Write *data* to *path* atomically and durably: a temporary file in the same
    directory, fsynced, then renamed over *path* (a crash leaves the old file or the
    new one, never half of either). ``OSError`` as the file system raises it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
