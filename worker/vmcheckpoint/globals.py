"""Which mutable globals a module has, read from its binary (WebAssembly core spec 2.0,
section 5: the binary format): what a VM checkpoint must save.

Wasmtime's C API cannot be asked safely: reading the type of a ``v128`` global aborts
the process (wasmtime-py 50), so a hostile module could kill a worker that inspects it.
This reader walks the import, global and export sections only, and answers None for
anything it does not fully understand, which makes the module not checkpointable.
"""

from __future__ import annotations

__all__ = ["ASYNCIFY_GLOBALS", "checkpointable_globals"]

ASYNCIFY_GLOBALS = ("__asyncify_state", "__asyncify_data")
"""Asyncify's own globals, imported from ``env`` by a module instrumented with
``--pass-arg=asyncify-relocatable``: the host owns them (:class:`~.host.SafePoints`),
and its calls into the Asyncify exports set them, so an image does not hold them."""

_I32, _I64 = 0x7F, 0x7E
_REF_WITH_HEAP_TYPE = (0x63, 0x64)
_CONST_OPS_NO_IMMEDIATE = frozenset({0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E})  # extended const
_END = 0x0B


class _Unknown(Exception):
    """A construct this reader does not handle."""


class _Reader:
    def __init__(self, data: bytes, offset: int = 0, end: int | None = None) -> None:
        self.data, self.offset = data, offset
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.offset >= self.end:
            raise _Unknown("truncated")
        value = self.data[self.offset]
        self.offset += 1
        return value

    def skip(self, count: int) -> None:
        if self.offset + count > self.end:
            raise _Unknown("truncated")
        self.offset += count

    def leb(self, max_bytes: int = 10) -> int:
        """An unsigned LEB128 (a signed one is skipped the same way)."""
        result = shift = 0
        for _ in range(max_bytes):
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result
        raise _Unknown("LEB128 too long")

    def name(self) -> str:
        size = self.leb(5)
        start = self.offset
        self.skip(size)
        return self.data[start : self.offset].decode("utf-8", errors="replace")

    def valtype(self) -> int:
        kind = self.byte()
        if kind in _REF_WITH_HEAP_TYPE:
            self.leb(5)  # the heap type (s33)
        return kind

    def limits(self) -> None:
        flags = self.byte()
        if flags & ~0x0F:
            raise _Unknown(f"limits flags {flags:#x}")
        self.leb()
        if flags & 0x01:
            self.leb()
        if flags & 0x08:  # custom page size
            self.leb(5)

    def const_expr(self) -> None:
        while True:
            op = self.byte()
            if op == _END:
                return
            if op in (0x41, 0x42, 0x23, 0xD2):  # i32/i64.const, global.get, ref.func
                self.leb()
            elif op == 0x43:
                self.skip(4)
            elif op == 0x44:
                self.skip(8)
            elif op == 0xD0:  # ref.null heaptype
                self.leb(5)
            elif op == 0xFD and self.leb(5) == 12:  # v128.const
                self.skip(16)
            elif op not in _CONST_OPS_NO_IMMEDIATE:
                raise _Unknown(f"constant expression opcode {op:#x}")


def checkpointable_globals(wasm: bytes) -> tuple[str, ...] | None:
    """The export names of *wasm*'s mutable globals when every mutable global it has is
    exported and is an i32 or i64 (what an image saves bit-exactly), sorted; None when
    it has a mutable global that is not, imports one other than Asyncify's
    (:data:`ASYNCIFY_GLOBALS`), or the binary has a construct this reader does not
    handle (it is then not checkpointable)."""
    try:
        return _read(wasm)
    except (_Unknown, IndexError):
        return None


def _read(wasm: bytes) -> tuple[str, ...] | None:
    if wasm[:8] != b"\x00asm\x01\x00\x00\x00":
        return None
    reader = _Reader(wasm, 8)
    imported = 0
    mutable: dict[int, int] = {}  # global index -> value type
    exported: dict[int, list[str]] = {}
    while reader.offset < reader.end:
        section, size = reader.byte(), reader.leb(5)
        body = _Reader(wasm, reader.offset, reader.offset + size)
        reader.skip(size)
        if section == 2:  # imports
            for _ in range(body.leb(5)):
                module, field = body.name(), body.name()
                kind = body.byte()
                if kind == 0x00:
                    body.leb(5)
                elif kind == 0x01:
                    body.valtype()
                    body.limits()
                elif kind == 0x02:
                    body.limits()
                elif kind == 0x03:
                    valtype, is_mutable = body.valtype(), body.byte()
                    if is_mutable and not (module == "env" and field in ASYNCIFY_GLOBALS):
                        return None  # another host's state, which an image cannot hold
                    if is_mutable and valtype != _I32:
                        return None
                    imported += 1
                elif kind == 0x04:
                    body.byte()
                    body.leb(5)
                else:
                    raise _Unknown(f"import kind {kind:#x}")
        elif section == 6:  # globals
            for index in range(imported, imported + body.leb(5)):
                valtype = body.valtype()
                if body.byte():
                    mutable[index] = valtype
                body.const_expr()
        elif section == 7:  # exports
            for _ in range(body.leb(5)):
                name = body.name()
                kind, index = body.byte(), body.leb(5)
                if kind == 0x03:
                    exported.setdefault(index, []).append(name)
    names: list[str] = []
    for index, valtype in mutable.items():
        if valtype not in (_I32, _I64) or index not in exported:
            return None
        names.extend(exported[index])
    return tuple(sorted(names))
