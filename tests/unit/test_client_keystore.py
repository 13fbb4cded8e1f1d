"""ccnet.client.keystore: encrypted key files, wrong passphrases, no secret in logs."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from ccnet.client import KeyNotFoundError, Keys, Keystore, KeystoreError
from ccnet.client.keystore import SCRYPT_N

FAST_N = 2**10  # scrypt cost for tests; the default is covered once below


def _pairs(mnemonic: str) -> list[str]:
    """Every two consecutive words: single BIP39 words (e.g. "key") may occur by chance."""
    words = mnemonic.split()
    return [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


@pytest.fixture
def store(tmp_path: Path) -> Keystore:
    return Keystore(tmp_path / "keystore", scrypt_n=FAST_N)


def test_round_trip(store: Keystore) -> None:
    keypair, mnemonic = Keys.generate()
    info = store.add("worker-1", mnemonic, "correct horse")
    assert info.address == keypair.ss58_address
    assert store.load("worker-1", "correct horse").ss58_address == keypair.ss58_address
    assert [k.name for k in store.list()] == ["worker-1"]
    assert store.address_of("worker-1") == keypair.ss58_address


def test_default_cost_round_trip(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    store.add("k", "//Alice", "pw")
    assert json.loads((tmp_path / "k.json").read_text())["kdf"]["n"] == SCRYPT_N
    assert store.load("k", "pw").ss58_address == Keys.from_uri("//Alice").ss58_address


def test_file_is_private_and_holds_no_plain_secret(store: Keystore) -> None:
    _, mnemonic = Keys.generate()
    info = store.add("k", mnemonic, "pw")
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700
    text = info.path.read_text()
    assert not any(pair in text for pair in _pairs(mnemonic))
    assert [p.name for p in store.path.iterdir()] == ["k.json"]  # no temp file left


def test_wrong_passphrase(store: Keystore) -> None:
    store.add("k", "//Bob", "right")
    with pytest.raises(KeystoreError, match="wrong passphrase for key 'k'"):
        store.load("k", "wrong")


def test_tampered_address_does_not_open(store: Keystore) -> None:
    info = store.add("k", "//Bob", "pw")
    data = json.loads(info.path.read_text())
    data["address"] = Keys.from_uri("//Alice").ss58_address
    info.path.write_text(json.dumps(data))
    with pytest.raises(KeystoreError):
        store.load("k", "pw")


def test_passphrase_callable_is_asked_only_when_opening(store: Keystore) -> None:
    asked: list[str] = []
    store.add("k", "//Charlie", "pw")

    def ask() -> str:
        asked.append("k")
        return "pw"

    assert store.address_of("k") == Keys.from_uri("//Charlie").ss58_address
    assert not asked
    store.load("k", ask)
    assert asked == ["k"]


def test_missing_duplicate_and_bad_names(store: Keystore) -> None:
    with pytest.raises(KeyNotFoundError, match="ccnet keys new"):
        store.load("nope", "pw")
    store.add("k", "//Dave", "pw")
    with pytest.raises(KeystoreError, match="exists already"):
        store.add("k", "//Eve", "pw")
    store.add("k", "//Eve", "pw", overwrite=True)
    assert store.address_of("k") == Keys.from_uri("//Eve").ss58_address
    for bad in ("../escape", ".hidden", "", "a/b"):
        with pytest.raises(KeystoreError, match="invalid key name"):
            store.add(bad, "//Eve", "pw")
    with pytest.raises(KeystoreError, match="empty"):
        store.add("other", "//Eve", "")


def test_dev_uris_resolve_without_a_keystore(store: Keystore) -> None:
    assert store.resolve("//Ferdie").ss58_address == Keys.from_uri("//Ferdie").ss58_address
    store.add("k", "//Alice", "pw")
    with pytest.raises(KeystoreError, match="CCNET_PASSPHRASE"):
        store.resolve("k")
    assert store.resolve("k", "pw").ss58_address == Keys.from_uri("//Alice").ss58_address


def test_unreadable_files_are_skipped_in_list(store: Keystore) -> None:
    store.add("good", "//Alice", "pw")
    (store.path / "broken.json").write_text("{not json")
    assert [k.name for k in store.list()] == ["good"]


def test_no_secret_or_passphrase_in_logs(store: Keystore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keypair, mnemonic = Keys.generate()
    passphrase = "s3cret-passphrase"
    store.add("k", mnemonic, passphrase)
    store.load("k", passphrase)
    with pytest.raises(KeystoreError) as wrong:
        store.load("k", "not-it")
    store.list()
    logged = caplog.text + str(wrong.value)
    assert keypair.ss58_address in caplog.text  # it does log, just not secrets
    assert passphrase not in logged
    assert not any(pair in logged for pair in _pairs(mnemonic))
    assert keypair.private_key.hex() not in logged
