"""Structure-aware mutations of valid messages, driven by the fuzzer's bytes.

A :class:`DataSource` (``atheris.FuzzedDataProvider``) makes every choice, so one input
is a recipe: which valid seed, which fields to break and how (type swaps, huge, negative
and u32/u64/u128 boundary integers, wrong hex lengths, missing, extra and repeated keys,
unicode, lone surrogates, deep nesting, oversize strings), which JSON layout, then which
raw byte edits. An exhausted source answers the smallest choice everywhere, which is
the seed unchanged: short inputs are valid messages.

JSON is written by :func:`dump`, which also writes what ``json.dumps`` cannot: repeated
keys (:class:`Pairs`), raw tokens such as ``NaN``, ``1e400`` or a 5,000-digit integer
(:class:`Raw`), and nesting thousands of levels deep without recursion (:class:`Nest`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = [
    "DataSource",
    "Mutator",
    "Nest",
    "Pairs",
    "Raw",
    "dump",
    "pick",
]

T = TypeVar("T")


class DataSource(Protocol):
    """The part of ``atheris.FuzzedDataProvider`` the mutations use."""

    def ConsumeIntInRange(self, low: int, high: int, /) -> int: ...

    def ConsumeBool(self) -> bool: ...

    def ConsumeBytes(self, count: int, /) -> bytes: ...

    def ConsumeUnicode(self, count: int, /) -> str: ...

    def remaining_bytes(self) -> int: ...


def pick(source: DataSource, items: Sequence[T]) -> T:
    """One of *items* (the first when the source is exhausted)."""
    return items[source.ConsumeIntInRange(0, len(items) - 1)]


@dataclass(frozen=True, slots=True)
class Raw:
    """A JSON token written as is (``NaN``, ``1e400``, ``00``, ``1.0``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Pairs:
    """A JSON object written pair by pair, so a key may repeat."""

    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Nest:
    """*inner* inside *depth* arrays (or objects with the key ``"k"``)."""

    depth: int
    inner: Any
    objects: bool = False


U32 = 2**32 - 1
U64 = 2**64 - 1
U128 = 2**128 - 1
BOUNDARY_INTS = (
    0,
    1,
    -1,
    255,
    2**31 - 1,
    U32,
    U32 + 1,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    U64,
    U64 + 1,
    -(2**63),
    -U64,
    U128,
    U128 + 1,
    10**39,
    10**40,
    -(10**40),
)
"""Integers at the edges of every width the protocols use."""
DEPTHS = (2, 64, 999, 1001, 3000, 20_000)
"""Nesting depths: around Python's recursion limit (1,000) and far beyond."""
SIZES = (1, 16, 31, 32, 33, 63, 64, 65, 1024, 1025, 4097, 65_537)
"""String and list lengths: field sizes, protocol limits and one past them."""
INTERESTING: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    "",
    "0",
    "00",
    "-1",
    "+1",
    " 1",
    "1e3",
    "\u0661\u0662",
    "0x",
    "0X00",
    "0x0",
    "\x00",
    "\ud800",
    "\U0001f600",
    [],
    {},
    [[]],
    {"": None},
    [None, None],
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1E+2"),
    Raw("-0"),
    Raw("1.0"),
    Raw("0.1e-400"),
    Raw("9" * 5000),
    Raw("-" + "9" * 5000),
    str(U64 + 1),
    str(U128 + 1),
    "9" * 41,
)
"""Values of every JSON type and the edge cases of the wire encodings."""
TOKENS = (
    b'"',
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"null",
    b"-",
    b"0",
    b"e",
    b"\\u0000",
    b"\\ud800",
)
"""Byte strings spliced in by the raw edits: JSON punctuation and broken UTF-8."""
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_hex(text: str) -> bool:
    body = text[2:] if text.startswith("0x") else text
    return bool(body) and all(c in _HEX_DIGITS for c in body)


class Mutator:
    """Breaks JSON documents and byte strings as *source* decides.

    *keys* are field names worth adding (every field of the protocol, so that an extra
    key is one the decoder knows from another message); *max_edits* bounds the
    structural edits per document.
    """

    def __init__(self, source: DataSource, *, keys: Sequence[str] = (), max_edits: int = 4):
        self.source = source
        self.keys = tuple(keys) or ("type",)
        self.max_edits = max_edits

    # -- choices -------------------------------------------------------------------

    def _int(self, low: int, high: int) -> int:
        return self.source.ConsumeIntInRange(low, high)

    def _text(self, limit: int = 16) -> str:
        return self.source.ConsumeUnicode(self._int(0, limit))

    # -- documents -----------------------------------------------------------------

    def document(self, doc: Any, donors: Sequence[Any] = ()) -> Any:
        """*doc* after 0 to ``max_edits`` edits; *donors* lend values (crossover)."""
        for _ in range(self._int(0, self.max_edits)):
            doc = self._edit(doc, donors, 0)
        return doc

    def _edit(self, node: Any, donors: Sequence[Any], depth: int) -> Any:
        # Down into a field three times in four: most edits break one field.
        descend = depth < 8 and self._int(0, 3) != 0
        if isinstance(node, dict) and node and descend:
            key = pick(self.source, sorted(node))
            return {**node, key: self._edit(node[key], _at(donors, key), depth + 1)}
        if isinstance(node, list) and node and descend:
            index = self._int(0, len(node) - 1)
            copy = list(node)
            copy[index] = self._edit(node[index], (), depth + 1)
            return copy
        return self._change(node, donors)

    def _change(self, node: Any, donors: Sequence[Any]) -> Any:
        op = self._int(0, 12)
        if op >= 10 or op <= 1:  # a change that keeps the type
            if isinstance(node, dict):
                return self._change_object(node)
            if isinstance(node, list):
                return self._change_list(node)
            if isinstance(node, str):
                return self._change_string(node)
            if type(node) is int:
                return self._change_int(node)
        if op == 2:
            return pick(self.source, INTERESTING)
        if op == 3:
            return pick(self.source, BOUNDARY_INTS)
        if op == 4:
            return str(pick(self.source, BOUNDARY_INTS))
        if op == 5:
            return self._text(64)
        if op == 6:
            return Nest(pick(self.source, DEPTHS), node, self.source.ConsumeBool())
        if op == 7:
            # A type swap that keeps the content: "5" <-> 5, x -> [x], x -> "json of x".
            return pick(self.source, (str(node), [node], dump(node), _number_of(node)))
        if op == 8 and donors:
            return pick(self.source, donors)
        if isinstance(node, dict):
            return self._change_object(node)
        if isinstance(node, list):
            return self._change_list(node)
        if isinstance(node, str):
            return self._change_string(node)
        return pick(self.source, INTERESTING)

    def _change_object(self, node: dict[str, Any]) -> Any:
        op = self._int(0, 4)
        keys = sorted(node)
        if op == 0 and keys:  # a missing key
            drop = pick(self.source, keys)
            return {k: v for k, v in node.items() if k != drop}
        if op == 1:  # an extra key (one the protocol knows, or any text)
            key = pick(self.source, self.keys) if self.source.ConsumeBool() else self._text()
            return {**node, key: pick(self.source, INTERESTING)}
        if op == 2 and keys:  # a repeated key, first or second value different
            key = pick(self.source, keys)
            other = pick(self.source, INTERESTING)
            pair = ((key, node[key]), (key, other))
            first = tuple(item for item in node.items() if item[0] != key)
            return Pairs(first + (pair if self.source.ConsumeBool() else pair[::-1]))
        if op == 3:  # the same pairs in another order (a layout change only)
            return Pairs(tuple(reversed(node.items())))
        return {}

    def _change_list(self, node: list[Any]) -> Any:
        op = self._int(0, 4)
        if op == 0 and node:
            index = self._int(0, len(node) - 1)
            return node[:index] + node[index + 1 :]
        if op == 1 and node:
            index = self._int(0, len(node) - 1)
            return node[: index + 1] + node[index:]
        if op == 2 and node:  # resized to a boundary length with copies of its items
            size = pick(self.source, (0, 1, 2, 127, 128, 129, 300))
            return [node[i % len(node)] for i in range(size)]
        if op == 3:
            return node[::-1]
        return [*node, pick(self.source, INTERESTING)]

    def _change_int(self, value: int) -> Any:
        op = self._int(0, 7)
        if op == 0:
            return value + 1
        if op == 1:
            return value - 1
        if op == 2:
            return -value - 1
        if op == 3:
            return value << pick(self.source, (32, 64, 128))
        if op == 4:
            return float(value)
        if op == 5:
            return Raw(f"{value}.0")
        if op == 6:
            return Raw(f"0{value}")
        return str(value)

    def _change_string(self, value: str) -> Any:
        if value.startswith("0x") or _is_hex(value):
            op = self._int(0, 13)
            if op >= 10 and value:  # same length, other bytes: a forged signature or hash
                if op == 11:
                    body = self.source.ConsumeBytes(len(value)).hex()[: len(value)]
                    return value[: len(value) - len(body)] + body
                index = self._int(0, len(value) - 1)
                digit = pick(self.source, "0123456789abcdef".replace(value[index], ""))
                return value[:index] + digit + value[index + 1 :]
            if op == 0:
                return value[:-1]
            if op == 1:
                return value + "0"
            if op == 2:
                return value + "00"
            if op == 3:
                return value.upper()
            if op == 4:
                return value.removeprefix("0x")
            if op == 5:
                return "0x" + value
            if op == 6 and len(value) > 2:
                index = self._int(2, len(value) - 1)
                return value[:index] + pick(self.source, ("g", " ", "\u0661", "A")) + value[index:]
            if op == 7:
                return value[:2]
            if op == 8:
                return "0x" + "00" * pick(self.source, SIZES[:8])
            if op == 9:
                return value + value[2:]
        if value.isascii() and value.isdigit():
            op = self._int(0, 7)
            if op == 0:
                return "0" + value
            if op == 1:
                return "-" + value
            if op == 2:
                return str(int(value) + 1)
            if op == 3:
                return value + " "
            if op == 4:
                return int(value)
            if op == 5:
                return "9" * pick(self.source, (39, 40, 41, 5000))
        op = self._int(0, 6)
        if op == 0:
            return value + self._text()
        if op == 1 and value:
            index = self._int(0, len(value))
            return value[:index] + self._text(4) + value[index:]
        if op == 2:
            return value[: self._int(0, len(value))]
        if op == 3:
            return pick(self.source, ("a", "\u00e9", "\U0001f600")) * pick(self.source, SIZES)
        if op == 4:
            return value + pick(self.source, ("\ud800", "\x00", "\n", '"', "\\"))
        return pick(self.source, INTERESTING)

    # -- layout and bytes ----------------------------------------------------------

    def text(self, doc: Any) -> bytes:
        """*doc* as JSON bytes in a layout the source picks: compact or spaced,
        ``\\u`` escapes or raw UTF-8 (lone surrogates as their invalid UTF-8)."""
        escaped = not self.source.ConsumeBool()
        spaced = self.source.ConsumeBool()
        return dump(doc, ascii_only=escaped, spaced=spaced).encode("utf-8", "surrogatepass")

    def edit_bytes(self, data: bytes) -> bytes:
        """*data* after 0 to 4 raw edits: bit flips, spliced tokens or fuzzer bytes,
        deleted, repeated or swapped ranges, truncation."""
        buf = bytearray(data)
        for _ in range(self._int(0, 4)):
            op = self._int(0, 7)
            pos = self._int(0, len(buf))
            if op == 0 and pos < len(buf):
                buf[pos] ^= 1 << self._int(0, 7)
            elif op == 1:
                buf[pos:pos] = pick(self.source, TOKENS)
            elif op == 2:
                buf[pos:pos] = self.source.ConsumeBytes(self._int(1, 8))
            elif op == 3:
                del buf[pos : pos + self._int(1, 16)]
            elif op == 4:
                buf[pos:pos] = buf[pos : pos + self._int(1, 64)] * self._int(1, 4)
            elif op == 5:
                del buf[pos:]
            elif op == 6 and pos < len(buf):
                other = self._int(0, len(buf) - 1)
                buf[pos], buf[other] = buf[other], buf[pos]
            elif op == 7 and pos < len(buf):
                buf[pos] = pick(self.source, (0x00, 0x7F, 0x80, 0xFF, 0x22, 0x5C))
        return bytes(buf)

    def json_input(self, seeds: Sequence[Any]) -> bytes:
        """A seed, its fields broken, written in some layout, its bytes edited."""
        doc = self.document(pick(self.source, seeds), seeds)
        data = self.text(doc)
        return self.edit_bytes(data) if self.source.ConsumeBool() else data


def _at(donors: Sequence[Any], key: str) -> list[Any]:
    """The values other seeds hold under *key* (crossover material)."""
    return [d[key] for d in donors if isinstance(d, dict) and key in d]


def _number_of(node: Any) -> Any:
    """A JSON number for decimal text (a u64 as a number), else *node*."""
    if isinstance(node, str) and node.isascii() and node.isdigit() and len(node) < 4000:
        return int(node)
    return node


def dump(value: Any, *, ascii_only: bool = True, spaced: bool = False) -> str:
    """JSON text of *value*, which may hold :class:`Raw`, :class:`Pairs` and
    :class:`Nest` (written without recursion into the nesting)."""
    item_sep, key_sep = (", ", ": ") if spaced else (",", ":")

    def write(node: Any) -> str:
        if isinstance(node, Raw):
            return node.text
        if isinstance(node, Nest):
            if node.objects:
                return '{"k":' * node.depth + write(node.inner) + "}" * node.depth
            return "[" * node.depth + write(node.inner) + "]" * node.depth
        if isinstance(node, Pairs | dict):
            items = node.items if isinstance(node, Pairs) else tuple(node.items())
            return (
                "{"
                + item_sep.join(
                    json.dumps(k, ensure_ascii=ascii_only) + key_sep + write(v) for k, v in items
                )
                + "}"
            )
        if isinstance(node, list | tuple):
            return "[" + item_sep.join(write(v) for v in node) + "]"
        return json.dumps(node, ensure_ascii=ascii_only)

    return write(value)
