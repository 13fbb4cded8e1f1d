"""Compiled Wasm modules, cached by hash.

A job module is named by its hash (:func:`~ccnet.client.jobs.catalogue.module_hash`:
blake2b-256 of its Wasm binary, 32 bytes). :class:`ModuleCache`
compiles a module once per process (an in-memory LRU of ``wasmtime.Module``) and keeps
the compiled machine code on disk as Wasmtime's serialized artifact, so a restarted
worker skips compilation. Artifacts are stored under a key made of the wasmtime-py
version and the engine settings (:func:`artifact_key`): a different Wasmtime or a
different configuration never loads an incompatible artifact. Artifacts are written
atomically (directories mode 0700) and only ever come from this worker's own
compiler; one that fails to load is compiled again and replaced. Loading an artifact
runs its machine code as is, so the cache directory must be writable by this worker
only (the default, ``<cache root>/wasmtime``, is). The built-in job modules are listed
and loaded by :mod:`ccnet.client.jobs.catalogue`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import wasmtime

from ccnet.client.jobs.catalogue import WASM_MAGIC, module_hash

from .exceptions import InvalidModuleError
from .vmcheckpoint.globals import checkpointable_globals

__all__ = ["CompiledModule", "ModuleCache", "artifact_key", "wasmtime_version"]

log = logging.getLogger(__name__)


def wasmtime_version() -> str:
    """The installed wasmtime-py version (its Wasmtime release), e.g. ``"50.0.1"``."""
    return version("wasmtime")


def artifact_key(engine_fingerprint: str) -> str:
    """Directory name for serialized artifacts made by this Wasmtime with these engine
    settings: 16 hex digits of blake2b over the version and the fingerprint."""
    data = f"wasmtime={wasmtime_version()};{engine_fingerprint}".encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass(frozen=True, eq=False)
class CompiledModule:
    """A module compiled for one engine."""

    hash: bytes
    """:func:`module_hash` of the Wasm binary, 32 bytes."""
    module: wasmtime.Module
    """The compiled module (usable with the engine of the cache that made it)."""
    size: int
    """Size of the Wasm binary, bytes (0 when loaded by hash from an artifact)."""
    mutable_globals: tuple[str, ...] | None = None
    """Export names of its mutable globals when the binary was read and every mutable
    global it has is an exported i32 or i64 (what a VM checkpoint saves,
    :func:`~ccnet.worker.vmcheckpoint.globals.checkpointable_globals`); None when it
    has others, or was loaded from an artifact without its bytes."""

    @property
    def hash_hex(self) -> str:
        """The hash as ``0x``-prefixed hex."""
        return "0x" + self.hash.hex()


class ModuleCache:
    """Compiles modules for *engine* and caches them by hash, in memory and on disk.

    *fingerprint* describes the engine settings (see :func:`artifact_key`);
    *artifact_dir* (``None``: memory only) holds ``<key>/<hash>.cwasm`` files;
    *max_entries* bounds the in-memory cache. Thread-safe.
    """

    def __init__(
        self,
        engine: wasmtime.Engine,
        fingerprint: str,
        *,
        artifact_dir: Path | None = None,
        max_entries: int = 32,
    ) -> None:
        self._engine = engine
        self._dir = artifact_dir / artifact_key(fingerprint) if artifact_dir else None
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, CompiledModule] = OrderedDict()
        self.compiled = 0
        """Modules compiled by this cache (not loaded from memory or disk)."""
        self.loaded_from_disk = 0
        """Modules loaded from serialized artifacts."""

    @property
    def directory(self) -> Path | None:
        """Where this cache's artifacts live, or ``None``."""
        return self._dir

    def get(self, digest: bytes) -> CompiledModule | None:
        """The compiled module with hash *digest* if it is in memory or on disk."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None:
                self._entries.move_to_end(digest)
                return entry
        module = self._load_artifact(digest)
        if module is None:
            return None
        return self._remember(CompiledModule(digest, module, 0))

    def load(self, wasm: bytes) -> CompiledModule:
        """The compiled module of Wasm binary *wasm*: from memory, from disk, or
        compiled now (then stored). :class:`InvalidModuleError` if it does not compile."""
        if not wasm.startswith(WASM_MAGIC):
            raise InvalidModuleError("not a Wasm binary (no \\0asm header)")
        digest = module_hash(wasm)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None and entry.size:
                self._entries.move_to_end(digest)
                return entry
        if entry is not None:  # loaded by hash alone: now its bytes are here
            return self._remember(_with_bytes(entry.module, digest, wasm))
        module = self._load_artifact(digest)
        if module is None:
            try:
                module = wasmtime.Module(self._engine, wasm)
            except wasmtime.WasmtimeError as err:
                raise InvalidModuleError(f"module does not compile: {_first_line(err)}") from None
            self.compiled += 1
            self._store_artifact(digest, module)
        return self._remember(_with_bytes(module, digest, wasm))

    def _remember(self, entry: CompiledModule) -> CompiledModule:
        with self._lock:
            self._entries[entry.hash] = entry
            self._entries.move_to_end(entry.hash)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return entry

    def _path(self, digest: bytes) -> Path | None:
        return self._dir / f"{digest.hex()}.cwasm" if self._dir else None

    def _load_artifact(self, digest: bytes) -> wasmtime.Module | None:
        path = self._path(digest)
        if path is None or not path.is_file():
            return None
        try:
            module = wasmtime.Module.deserialize_file(self._engine, str(path))
        except (wasmtime.WasmtimeError, OSError) as err:
            log.warning("dropping unusable artifact %s: %s", path, _first_line(err))
            path.unlink(missing_ok=True)
            return None
        self.loaded_from_disk += 1
        return module

    def _store_artifact(self, digest: bytes, module: wasmtime.Module) -> None:
        path = self._path(digest)
        if path is None:
            return
        try:
            path.parent.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.parent.mkdir(exist_ok=True, mode=0o700)
            data = module.serialize()
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".cwasm")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except OSError as err:  # a read-only or full disk only costs a recompilation
            log.warning("cannot store artifact %s: %s", path, err)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _with_bytes(module: wasmtime.Module, digest: bytes, wasm: bytes) -> CompiledModule:
    return CompiledModule(digest, module, len(wasm), checkpointable_globals(wasm))
