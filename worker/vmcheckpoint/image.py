"""The VM checkpoint image: what a suspended job is, and its byte format (version 1).

A :class:`VmImage` holds everything needed to continue a job where it stopped at a safe
point: its linear memory, its exported mutable globals (the shadow-stack pointer), the
Asyncify unwind buffer's address (the call stack is saved inside memory), the fuel it
has burnt, its stdin position, its ``random_get`` call count and what it has written so
far, bound to the module, the engine and the job's input. The format is specified in
``docs/vm-checkpoints.md``; :func:`encode` and :func:`decode` are its only writer and
reader. Memory is stored sparsely (only its non-zero 64 KiB pages), and a SHA-256
digest of everything before it ends the image, so truncation and corruption are told
apart from a valid image (SHA-256 rather than the project's usual BLAKE2b: with the
CPU's SHA extensions it is about twice as fast over a 16 MiB image).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from ..exceptions import CheckpointFormatError

__all__ = [
    "ABI_VERSION",
    "FORMAT_VERSION",
    "MAGIC",
    "PAGE",
    "Global",
    "VmImage",
    "decode",
    "encode",
]

MAGIC = b"CCVMIMG\x00"
FORMAT_VERSION = 1
"""Version of the byte format below; a reader refuses any other."""
ABI_VERSION = 1
"""Version of the job ABI of safe points (``ccnet.safepoint``, Asyncify exports)."""
PAGE = 65536
"""A Wasm page, bytes."""
MAX_MEMORY = 1 << 32
"""The largest linear memory of wasm32, bytes."""

_VALTYPES = ("i32", "i64", "f32", "f64")
_DIGEST = 32


@dataclass(frozen=True)
class Global:
    """An exported mutable global: its export name, value type and raw value bits
    (an i32/f32 in the low 32 bits, as unsigned)."""

    name: str
    valtype: str
    bits: int


@dataclass(frozen=True)
class VmImage:
    """A job suspended at a safe point (see the module docs)."""

    engine: str
    """The engine that made it (``wasmtime-py <version>``): fuel counts are its."""
    module_hash: bytes
    """blake2b-256 of the (instrumented) module's bytes, 32 bytes."""
    input_hash: bytes
    """:func:`ccnet.client.jobs.results.input_hash` of the job's args and stdin, 32 bytes."""
    seed: bytes
    """The run's ``random_get`` seed."""
    fuel_used: int
    """Fuel burnt by every segment up to this safe point, checkpoint costs included."""
    checkpoints: int
    """Checkpoints taken so far, this one included."""
    stdin_pos: int
    """Bytes of stdin the job has read, bytes."""
    random_calls: int
    """``random_get`` calls so far (the seeded stream's counter)."""
    unwind_buffer: int
    """Address of the Asyncify data buffer the call stack was unwound into."""
    memory_size: int
    """Size of the linear memory, bytes (a multiple of :data:`PAGE`)."""
    pages: dict[int, bytes] = field(repr=False)
    """Page index -> its 64 KiB, for every page that is not all zero."""
    globals: tuple[Global, ...]
    stdout: bytes = field(repr=False)
    """What the job wrote to stdout so far."""
    stderr: bytes = field(repr=False)
    """What it wrote to stderr so far."""
    abi: int = ABI_VERSION

    def memory(self) -> bytes:
        """The whole linear memory, :attr:`memory_size` bytes."""
        data = bytearray(self.memory_size)
        for index, page in self.pages.items():
            data[index * PAGE : (index + 1) * PAGE] = page
        return bytes(data)


def encode(image: VmImage) -> bytes:
    """The image as bytes (format version 1, ``docs/vm-checkpoints.md``)."""
    out = bytearray(MAGIC)
    out += struct.pack("<HH", FORMAT_VERSION, image.abi)
    _put_bytes(out, image.engine.encode(), "H")
    if len(image.module_hash) != 32 or len(image.input_hash) != 32:
        raise ValueError("module_hash and input_hash are 32 bytes")
    out += image.module_hash + image.input_hash
    _put_bytes(out, image.seed, "I")
    out += struct.pack(
        "<QIQQIQ",
        image.fuel_used,
        image.checkpoints,
        image.stdin_pos,
        image.random_calls,
        image.unwind_buffer,
        image.memory_size,
    )
    out += struct.pack("<H", len(image.globals))
    for item in image.globals:
        _put_bytes(out, item.name.encode(), "H")
        out += struct.pack("<BQ", _VALTYPES.index(item.valtype), item.bits)
    out += struct.pack("<I", len(image.pages))
    for index in sorted(image.pages):
        page = image.pages[index]
        if len(page) != PAGE or (index + 1) * PAGE > image.memory_size:
            raise ValueError(f"page {index} is not a page of the memory")
        out += struct.pack("<I", index) + page
    _put_bytes(out, image.stdout, "I")
    _put_bytes(out, image.stderr, "I")
    out += hashlib.sha256(out).digest()
    return bytes(out)


def decode(data: bytes) -> VmImage:
    """The image in *data*; :class:`CheckpointFormatError` (with what is wrong) if it is
    not a version-1 image, is truncated or corrupted."""
    if not data.startswith(MAGIC):
        raise CheckpointFormatError("not a VM checkpoint image (bad magic)")
    if len(data) < len(MAGIC) + 4 + _DIGEST:
        raise CheckpointFormatError(f"truncated VM checkpoint image ({len(data)} bytes)")
    version, abi = struct.unpack_from("<HH", data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise CheckpointFormatError(
            f"VM checkpoint format version {version}; this worker reads {FORMAT_VERSION}"
        )
    body, digest = memoryview(data)[:-_DIGEST], data[-_DIGEST:]  # a view: no copy
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointFormatError(
            "VM checkpoint image is truncated or corrupted (its digest does not match)"
        )
    reader = _Reader(body, len(MAGIC) + 4)
    try:
        engine = reader.take_sized("H").decode()
        module_hash, input_hash = reader.take(32), reader.take(32)
        seed = reader.take_sized("I")
        fuel, checkpoints, stdin_pos, random_calls, buffer, memory_size = reader.unpack("<QIQQIQ")
        globals_: list[Global] = []
        for _ in range(reader.unpack("<H")[0]):
            name = reader.take_sized("H").decode()
            tag, bits = reader.unpack("<BQ")
            globals_.append(Global(name, _VALTYPES[tag], bits))
        pages: dict[int, bytes] = {}
        for _ in range(reader.unpack("<I")[0]):
            (index,) = reader.unpack("<I")
            if (index + 1) * PAGE > memory_size or index in pages:
                raise CheckpointFormatError(f"page {index} is outside the memory or repeated")
            pages[index] = reader.take(PAGE)
        stdout, stderr = reader.take_sized("I"), reader.take_sized("I")
    except (struct.error, IndexError, UnicodeDecodeError) as err:
        raise CheckpointFormatError(f"malformed VM checkpoint image: {err}") from None
    if reader.offset != len(body):
        raise CheckpointFormatError(f"{len(body) - reader.offset} stray bytes in the image")
    if memory_size % PAGE or memory_size > MAX_MEMORY:
        raise CheckpointFormatError(
            f"memory size {memory_size} is not whole pages of a 32-bit memory"
        )
    return VmImage(
        engine=engine,
        module_hash=module_hash,
        input_hash=input_hash,
        seed=seed,
        fuel_used=fuel,
        checkpoints=checkpoints,
        stdin_pos=stdin_pos,
        random_calls=random_calls,
        unwind_buffer=buffer,
        memory_size=memory_size,
        pages=pages,
        globals=tuple(globals_),
        stdout=stdout,
        stderr=stderr,
        abi=abi,
    )


def _put_bytes(out: bytearray, data: bytes, length: str) -> None:
    out += struct.pack(f"<{length}", len(data)) + data


class _Reader:
    def __init__(self, data: bytes | memoryview, offset: int) -> None:
        self.data, self.offset = memoryview(data), offset

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise IndexError(f"needs {size} bytes at offset {self.offset}")
        chunk = bytes(self.data[self.offset : end])
        self.offset = end
        return chunk

    def take_sized(self, length: str) -> bytes:
        (size,) = self.unpack(f"<{length}")
        return self.take(int(size))

    def unpack(self, fmt: str) -> tuple[int, ...]:
        values = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += struct.calcsize(fmt)
        return values
