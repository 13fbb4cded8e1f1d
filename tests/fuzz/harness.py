"""Fuzz targets and their two drivers: seeded (pytest) and libFuzzer (atheris).

A target (:class:`Target`) takes one fuzzer input and raises :class:`PropertyError` when
a property fails; any other exception that escapes it is a crash too (the decoder
raised something other than its typed error). :func:`run_seeded` feeds it inputs from a
seeded ``random.Random`` through ``atheris.FuzzedDataProvider``, in this process (the
inputs are the same every run; the seeds' sr25519 signatures are not, as signing is
randomised); :func:`fuzz` runs it under atheris' libFuzzer loop (which runs once per
process: ``benches/fuzz_decoders.py`` starts one process per target).

This module imports no ccnet code, so that :func:`load` can import a target (and ccnet
with it) under atheris' coverage instrumentation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import random
import sys
import time
import traceback
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import atheris

from . import TARGETS

__all__ = [
    "Finding",
    "PropertyError",
    "Target",
    "check_fields",
    "fuzz",
    "load",
    "require",
    "run_seeded",
    "source",
]


class PropertyError(AssertionError):
    """A decoder broke one of its properties (round trip, canonical form, store
    unchanged, an unforgeable signature verified, a field of the wrong type)."""


def require(condition: object, message: str) -> None:
    """:class:`PropertyError` with *message* unless *condition* holds."""
    if not condition:
        raise PropertyError(message)


class Target(Protocol):
    """One decoder family under test."""

    name: str

    def one(self, data: bytes) -> None:
        """Run one fuzzer input; :class:`PropertyError` (or any unexpected exception)
        when a property fails."""
        ...

    def close(self) -> None:
        """Release what the target holds (stores, event loops)."""
        ...


def source(data: bytes) -> Any:
    """The ``atheris.FuzzedDataProvider`` that makes every choice of one input."""
    return atheris.FuzzedDataProvider(data)


def load(name: str, workdir: Path) -> Target:
    """The target called *name* (see :data:`fuzz.TARGETS`), keeping any files in
    *workdir*."""
    module_name, _, class_name = TARGETS[name].partition(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    factory: Callable[[Path], Target] = getattr(module, class_name)
    return factory(workdir)


@dataclass(frozen=True)
class Finding:
    """An input that crashed a target, and how."""

    target: str
    data: bytes
    error: str
    """``repr`` of the exception."""
    where: str
    """The last frames of the traceback."""

    def save(self, directory: Path) -> Path:
        """Write the input to *directory* as ``<target>-<sha1>`` (libFuzzer's naming);
        returns the path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.target}-{hashlib.sha1(self.data).hexdigest()}"
        path.write_bytes(self.data)
        return path


def _finding(target: Target, data: bytes, error: Exception) -> Finding:
    where = "".join(traceback.format_exception(error)[-4:])
    return Finding(target.name, data, repr(error), where)


def run_seeded(target: Target, *, inputs: int, seed: int, max_len: int = 1024) -> list[Finding]:
    """Run *target* on *inputs* inputs from ``random.Random(seed)`` (half of them short,
    so many stay close to the valid seeds); returns the crashes."""
    rng = random.Random(seed)
    findings = []
    for _ in range(inputs):
        size = rng.randint(0, 48) if rng.random() < 0.5 else rng.randint(0, max_len)
        data = rng.randbytes(size)
        try:
            target.one(data)
        except Exception as error:
            findings.append(_finding(target, data, error))
    return findings


def fuzz(
    target: Target,
    *,
    runs: int,
    seed: int,
    crash_dir: Path,
    progress: Path | None = None,
    max_len: int = 4096,
) -> None:
    """Run *target* under libFuzzer for *runs* inputs (atheris; returns only through
    libFuzzer's exit). Crashes are counted and saved to *crash_dir*, and the run goes on;
    when the last input is done, one JSON line goes to stdout: ``target``, ``inputs``,
    ``seconds`` (from the first input) and ``crashes``. The same line is written to
    *progress* every 10,000 inputs, so a run stopped early still tells how far it got."""
    count = 0
    crashes = 0
    start = 0.0
    shown: set[str] = set()

    def stats() -> str:
        elapsed = time.perf_counter() - start
        return json.dumps(
            {"target": target.name, "inputs": count, "seconds": elapsed, "crashes": crashes}
        )

    def one(data: bytes) -> None:
        nonlocal count, crashes, start
        if count == 0:
            start = time.perf_counter()
        count += 1
        try:
            target.one(data)
        except Exception as error:
            crashes += 1
            finding = _finding(target, data, error)
            path = finding.save(crash_dir)
            if finding.where not in shown:  # each distinct crash once
                shown.add(finding.where)
                print(f"CRASH {path}: {finding.error}\n{finding.where}", file=sys.stderr)
        if progress is not None and count % 10_000 == 0:
            progress.write_text(stats() + "\n")
        if count == runs:
            print(stats(), flush=True)

    crash_dir.mkdir(parents=True, exist_ok=True)  # libFuzzer's own artifacts go there too
    args = [sys.argv[0], f"-runs={runs}", f"-seed={seed}", f"-max_len={max_len}"]
    args.append(f"-artifact_prefix={crash_dir}/")
    atheris.Setup([*args, "-len_control=0", "-print_final_stats=1"], one)
    atheris.Fuzz()


# -- field types ------------------------------------------------------------------------


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(item, args[0]) for item in value)
        return len(args) == len(value) and all(map(_matches, value, args))
    if origin is not None:
        return isinstance(value, origin)
    if hint is int:
        return type(value) is int
    if hint is float:
        return isinstance(value, float)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:  # resolving the annotations is slow: once per class
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def check_fields(value: Any) -> None:
    """:class:`PropertyError` unless every field of the dataclass *value* (and of the
    dataclasses in it) holds a value of its annotated type: a decoder must not let a
    peer's ``5`` through where the type says ``str``."""
    hints = _hints(type(value))
    for field in dataclasses.fields(value):
        item = getattr(value, field.name)
        require(
            _matches(item, hints[field.name]),
            f"{type(value).__name__}.{field.name} is {item!r}, not {hints[field.name]}",
        )
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            check_fields(item)
