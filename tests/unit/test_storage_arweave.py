"""Arweave primitives of ccnet.storage against arweave-js (tests/vectors/arweave.json):
merkle chunking and data_root, chunk proofs, deep hash, v2 signature data; plus the
RSA JWK wallet and signed transactions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccnet.storage import ArweaveWallet, DataTransaction, Tag, WalletError
from ccnet.storage.deephash import DeepHashItem, deep_hash
from ccnet.storage.encoding import b64url_decode, b64url_encode, int_note
from ccnet.storage.merkle import (
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    chunk_ranges,
    compute_data_root,
    generate_transaction_chunks,
    validate_path,
)
from ccnet.storage.transaction import sign_data_transaction, signature_data

VECTORS_PATH = Path(__file__).resolve().parent.parent / "vectors" / "arweave.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text())


def vector_data(size: int) -> bytes:
    """The vectors' data: SHA-256("ccnet-vector" + u32be(i)) concatenated, cut to size."""
    blocks = (
        hashlib.sha256(b"ccnet-vector" + i.to_bytes(4, "big")).digest()
        for i in range((size + 31) // 32)
    )
    return b"".join(blocks)[:size]


@pytest.fixture(scope="module")
def wallet() -> ArweaveWallet:
    return ArweaveWallet.generate(2048)  # small key: fast; the format is the same


# --- encoding -----------------------------------------------------------------------


def test_b64url_round_trip_without_padding() -> None:
    for data in (b"", b"\x00", b"\xff\xfe", bytes(range(256))):
        text = b64url_encode(data)
        assert "=" not in text and "+" not in text and "/" not in text
        assert b64url_decode(text) == data


def test_b64url_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        b64url_decode("a")
    with pytest.raises(ValueError):
        b64url_decode("ab$d")


def test_int_note_is_32_bytes_big_endian() -> None:
    assert int_note(0) == bytes(32)
    assert int_note(262144) == bytes(29) + b"\x04\x00\x00"


# --- merkle ---------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["merkle"], ids=lambda v: str(v["size"]))
def test_merkle_matches_arweave_js(vector: dict[str, Any]) -> None:
    data = vector_data(vector["size"])
    chunks = generate_transaction_chunks(data)
    assert b64url_encode(chunks.data_root) == vector["data_root"]
    assert compute_data_root(data) == chunks.data_root
    assert [[c.start, c.end] for c in chunks.chunks] == vector["chunks"]
    assert [p.offset for p in chunks.proofs] == vector["offsets"]
    proofs = hashlib.sha256(b"".join(p.proof for p in chunks.proofs)).digest()
    assert b64url_encode(proofs) == vector["proofs_sha256"]


@pytest.mark.parametrize("size", [262144, 270000, 1048576])
def test_issue_problem_sizes(size: int) -> None:
    # arweave-python-client 1.0.19 got these wrong; arweave-js rebalances a last chunk
    # under 32 KiB and adds a trailing empty leaf to exact multiples of 256 KiB.
    vector = next(v for v in VECTORS["merkle"] if v["size"] == size)
    assert b64url_encode(compute_data_root(vector_data(size))) == vector["data_root"]


def test_chunk_ranges_rules() -> None:
    assert chunk_ranges(0) == [(0, 0)]
    assert chunk_ranges(MAX_CHUNK_SIZE) == [(0, MAX_CHUNK_SIZE), (MAX_CHUNK_SIZE,) * 2]
    # 270,000 = 256 KiB + 7,856: the last two chunks share the rest evenly.
    assert chunk_ranges(270000) == [(0, 135000), (135000, 270000)]
    assert chunk_ranges(MAX_CHUNK_SIZE + MIN_CHUNK_SIZE) == [
        (0, MAX_CHUNK_SIZE),
        (MAX_CHUNK_SIZE, MAX_CHUNK_SIZE + MIN_CHUNK_SIZE),
    ]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=4 * MAX_CHUNK_SIZE + 100))
def test_chunk_ranges_cover_the_data(size: int) -> None:
    ranges = chunk_ranges(size)
    assert ranges[0][0] == 0 and ranges[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    real = [(a, b) for a, b in ranges if b > a]
    assert all(b - a <= MAX_CHUNK_SIZE for a, b in real)
    if len(real) > 1:
        assert real[-1][1] - real[-1][0] >= MIN_CHUNK_SIZE // 2


def test_empty_data_has_no_chunks_and_an_empty_root() -> None:
    chunks = generate_transaction_chunks(b"")
    assert chunks.data_root == b"" and chunks.chunks == () and chunks.proofs == ()


@pytest.mark.parametrize("size", [1, 262144, 270000, 600000, 1048577])
def test_every_proof_validates(size: int) -> None:
    data = vector_data(size)
    chunks = generate_transaction_chunks(data)
    for chunk, proof in zip(chunks.chunks, chunks.proofs, strict=True):
        for offset in (chunk.start, proof.offset):
            found = validate_path(chunks.data_root, offset, 0, size, proof.proof)
            assert found == (chunk.start, chunk.end)


def test_a_tampered_proof_fails() -> None:
    data = vector_data(600000)
    chunks = generate_transaction_chunks(data)
    proof = bytearray(chunks.proofs[1].proof)
    proof[-40] ^= 1
    assert validate_path(chunks.data_root, chunks.proofs[1].offset, 0, 600000, bytes(proof)) is None
    assert validate_path(bytes(32), 0, 0, 600000, chunks.proofs[0].proof) is None


# --- deep hash and signature data -----------------------------------------------------


def _decode(item: Any) -> DeepHashItem:
    return [_decode(x) for x in item] if isinstance(item, list) else b64url_decode(item)


@pytest.mark.parametrize("vector", VECTORS["deep_hash"], ids=lambda v: str(v["item"])[:20])
def test_deep_hash_matches_arweave_js(vector: dict[str, Any]) -> None:
    assert b64url_encode(deep_hash(_decode(vector["item"]))) == vector["hash"]


def test_signature_data_matches_arweave_js() -> None:
    tx = VECTORS["transaction"]
    message = signature_data(
        owner=b64url_decode(tx["owner"]),
        target=b"",
        quantity=0,
        reward=int(tx["reward"]),
        last_tx=b64url_decode(tx["last_tx"]),
        tags=[Tag(name, value) for name, value in tx["tags"]],
        data_size=tx["data_size"],
        data_root=b64url_decode(tx["data_root"]),
    )
    assert b64url_encode(message) == tx["signature_data"]
    assert tx["data_root"] == b64url_encode(compute_data_root(vector_data(tx["data_size"])))


# --- wallet ---------------------------------------------------------------------------


def test_wallet_jwk_round_trip(wallet: ArweaveWallet, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "wallet.json"
    wallet.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    jwk = json.loads(path.read_text())
    assert set(jwk) == {"kty", "n", "e", "d", "p", "q", "dp", "dq", "qi"}
    assert jwk["e"] == "AQAB"
    loaded = ArweaveWallet.load(path)
    assert loaded.address == wallet.address and loaded.owner == wallet.owner
    assert wallet.address == b64url_encode(hashlib.sha256(b64url_decode(jwk["n"])).digest())
    assert len(wallet.address) == 43


def test_wallet_signs_with_pss(wallet: ArweaveWallet) -> None:
    signature = wallet.sign(b"message")
    assert len(signature) == 256
    assert wallet.verify(b"message", signature)
    assert not wallet.verify(b"other", signature)


def test_load_or_create_makes_one_wallet(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    first = ArweaveWallet.load_or_create(path, key_size=2048)
    assert ArweaveWallet.load_or_create(path).address == first.address


@pytest.mark.parametrize(
    "content", ["", "[]", '{"kty": "EC"}', '{"kty": "RSA", "n": "AQAB"}', "not json"]
)
def test_bad_wallet_files_raise_wallet_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(WalletError):
        ArweaveWallet.load(path)
    with pytest.raises(WalletError, match="not found"):
        ArweaveWallet.load(tmp_path / "missing.json")


# --- transactions -------------------------------------------------------------------------


def _signed(wallet: ArweaveWallet, data: bytes) -> DataTransaction:
    chunks = generate_transaction_chunks(data)
    return sign_data_transaction(
        wallet,
        data_root=chunks.data_root,
        data_size=len(data),
        tags={"App-Name": "ccnet", "Note": "grüße"},
        reward=12345,
        last_tx=b64url_encode(bytes(range(48))),
    )


def test_signed_transaction_verifies_and_round_trips(wallet: ArweaveWallet) -> None:
    tx = _signed(wallet, vector_data(300000))
    assert tx.verify()
    assert tx.id == b64url_encode(hashlib.sha256(tx.signature).digest())
    body = tx.to_json()
    assert body["format"] == 2 and body["data"] == "" and body["data_size"] == "300000"
    assert body["tags"][1] == {
        "name": b64url_encode(b"Note"),
        "value": b64url_encode("grüße".encode()),
    }
    again = DataTransaction.from_json(json.loads(json.dumps(body)))
    assert again == tx and again.verify()
    assert again.tag("Note") == "grüße" and again.tag("Missing") is None


def test_tags_are_encoded_once(wallet: ArweaveWallet) -> None:
    tx = _signed(wallet, b"x")
    assert tx.to_json()["tags"] == tx.to_json()["tags"]
    first = tx.to_json()
    first["tags"][0]["name"] = "changed"
    assert tx.to_json()["tags"][0]["name"] == b64url_encode(b"App-Name")


def test_inline_data_is_base64url(wallet: ArweaveWallet) -> None:
    tx = _signed(wallet, b"hello")
    assert tx.to_json(b"hello")["data"] == b64url_encode(b"hello")


def test_a_changed_field_breaks_the_signature(wallet: ArweaveWallet) -> None:
    body = _signed(wallet, b"hello").to_json()
    body["reward"] = "12346"
    assert not DataTransaction.from_json(body).verify()


def test_empty_tags_are_refused(wallet: ArweaveWallet) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        sign_data_transaction(
            wallet, data_root=b"", data_size=0, tags={"App-Name": ""}, reward=0, last_tx=""
        )
