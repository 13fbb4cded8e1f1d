"""Arweave v2 data merkle tree: chunking, ``data_root`` and chunk proofs.

Source: arweave-js ``src/common/lib/merkle.ts`` (the reference the gateways and arlocal
check against), whose rules this module follows exactly:

- Data is cut into chunks of at most 256 KiB. When what would be left after a full chunk
  is under 32 KiB (and not empty), that chunk takes half the rest, rounded up, so the
  last two chunks are balanced.
- The loop runs while at least 256 KiB are left, then appends the rest as the last
  chunk, **even when it is empty** (data of an exact multiple of 256 KiB ends in a
  zero-length chunk). That chunk is part of the tree (its leaf changes ``data_root``)
  but is never uploaded.
- Hashes are SHA-256. Leaf id: ``H(H(chunk_hash) + H(note(end)))``; branch id:
  ``H(H(left.id) + H(right.id) + H(note(left.end)))``; an odd node at the end of a layer
  moves up unchanged. Notes are 32-byte big-endian offsets.
- A chunk's proof (``data_path``) is, from the root down, ``left.id + right.id +
  note(split)`` per branch, then ``chunk_hash + note(end)``; its offset is ``end - 1``.

Empty data has no chunks and an empty ``data_root`` (as arweave-js sets it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .encoding import NOTE_SIZE, int_note

__all__ = [
    "HASH_SIZE",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "Chunk",
    "ChunkProof",
    "TransactionChunks",
    "chunk_ranges",
    "compute_data_root",
    "generate_transaction_chunks",
    "validate_path",
]

MAX_CHUNK_SIZE = 256 * 1024
"""Largest chunk, bytes."""
MIN_CHUNK_SIZE = 32 * 1024
"""A last chunk under this (and not empty) is rebalanced with the one before, bytes."""
HASH_SIZE = 32


def _sha256(data: bytes | memoryview) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class Chunk:
    """One chunk of the data: bytes ``[start, end)`` and their SHA-256."""

    start: int
    end: int
    data_hash: bytes

    @property
    def size(self) -> int:
        """Length in bytes."""
        return self.end - self.start


@dataclass(frozen=True)
class ChunkProof:
    """The merkle path of one chunk, as the gateway's ``/chunk`` takes it."""

    offset: int
    """``end - 1`` of the chunk, relative to the data start."""
    proof: bytes
    """The ``data_path``: branch steps, then the leaf's hash and end note."""


@dataclass(frozen=True)
class TransactionChunks:
    """What a v2 data transaction needs: the root, and the chunks to upload with proofs."""

    data_root: bytes
    """32-byte merkle root; empty for empty data."""
    chunks: tuple[Chunk, ...]
    """Chunks to upload, in order (a trailing zero-length chunk is left out)."""
    proofs: tuple[ChunkProof, ...]
    """One proof per chunk, same order."""


@dataclass(frozen=True)
class _Node:
    id: bytes
    end: int  # maxByteRange
    data_hash: bytes = b""  # leaves only
    split: int = 0  # branches only: left child's end (byteRange)
    left: _Node | None = None
    right: _Node | None = None


def chunk_ranges(size: int) -> list[tuple[int, int]]:
    """``[start, end)`` of every chunk of *size* bytes, the trailing empty one included."""
    if size < 0:
        raise ValueError(f"negative size {size}")
    ranges: list[tuple[int, int]] = []
    cursor = 0
    rest = size
    while rest >= MAX_CHUNK_SIZE:
        chunk = MAX_CHUNK_SIZE
        after = rest - MAX_CHUNK_SIZE
        if 0 < after < MIN_CHUNK_SIZE:
            chunk = (rest + 1) // 2  # ceil(rest / 2)
        ranges.append((cursor, cursor + chunk))
        cursor += chunk
        rest -= chunk
    ranges.append((cursor, cursor + rest))
    return ranges


def _chunks(data: bytes) -> list[Chunk]:
    view = memoryview(data)
    return [Chunk(a, b, _sha256(view[a:b])) for a, b in chunk_ranges(len(data))]


def _leaf(chunk: Chunk) -> _Node:
    node_id = _sha256(_sha256(chunk.data_hash) + _sha256(int_note(chunk.end)))
    return _Node(id=node_id, end=chunk.end, data_hash=chunk.data_hash)


def _branch(left: _Node, right: _Node) -> _Node:
    node_id = _sha256(_sha256(left.id) + _sha256(right.id) + _sha256(int_note(left.end)))
    return _Node(id=node_id, end=right.end, split=left.end, left=left, right=right)


def _build(nodes: list[_Node]) -> _Node:
    while len(nodes) > 1:
        layer = [_branch(nodes[i], nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
        if len(nodes) % 2:
            layer.append(nodes[-1])  # the odd node moves up unchanged
        nodes = layer
    return nodes[0]


def _proofs(node: _Node, prefix: bytes = b"") -> list[ChunkProof]:
    if node.left is None or node.right is None:
        return [ChunkProof(offset=node.end - 1, proof=prefix + node.data_hash + int_note(node.end))]
    step = prefix + node.left.id + node.right.id + int_note(node.split)
    return _proofs(node.left, step) + _proofs(node.right, step)


def compute_data_root(data: bytes) -> bytes:
    """The 32-byte ``data_root`` of *data* (empty bytes for empty data)."""
    if not data:
        return b""
    return _build([_leaf(chunk) for chunk in _chunks(data)]).id


def generate_transaction_chunks(data: bytes) -> TransactionChunks:
    """Root, chunks and proofs of *data*, as arweave-js ``generateTransactionChunks``."""
    if not data:
        return TransactionChunks(data_root=b"", chunks=(), proofs=())
    chunks = _chunks(data)
    root = _build([_leaf(chunk) for chunk in chunks])
    proofs = _proofs(root)
    if chunks[-1].size == 0:  # part of the tree, never uploaded
        chunks, proofs = chunks[:-1], proofs[:-1]
    return TransactionChunks(data_root=root.id, chunks=tuple(chunks), proofs=tuple(proofs))


def validate_path(
    data_root: bytes, offset: int, left_bound: int, right_bound: int, path: bytes
) -> tuple[int, int] | None:
    """Check a chunk proof: the ``(start, end)`` of the chunk holding byte *offset* if
    *path* proves it under *data_root* within ``[left_bound, right_bound)``, else None.

    Follows arweave-js ``validatePath``: offsets past the bounds are clamped."""
    if right_bound <= 0:
        return None
    if offset >= right_bound:
        offset = right_bound - 1
    if offset < 0:
        offset = 0
    node_id = data_root
    branch = 2 * HASH_SIZE + NOTE_SIZE
    while len(path) > HASH_SIZE + NOTE_SIZE:
        if len(path) < branch:
            return None
        step, path = path[:branch], path[branch:]
        left, right, note = step[:HASH_SIZE], step[HASH_SIZE : 2 * HASH_SIZE], step[-NOTE_SIZE:]
        split = int.from_bytes(note, "big")
        if _sha256(_sha256(left) + _sha256(right) + _sha256(note)) != node_id:
            return None
        if offset < split:
            node_id, right_bound = left, min(right_bound, split)
        else:
            node_id, left_bound = right, max(left_bound, split)
    if len(path) != HASH_SIZE + NOTE_SIZE:
        return None
    data_hash, note = path[:HASH_SIZE], path[HASH_SIZE:]
    if _sha256(_sha256(data_hash) + _sha256(note)) != node_id:
        return None
    if int.from_bytes(note, "big") != right_bound:
        return None
    return left_bound, right_bound
