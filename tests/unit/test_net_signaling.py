"""Signed offers and answers, the replay guard, SDP helpers and the ICE address policy."""

from __future__ import annotations

from dataclasses import replace

import aioice.ice
import pytest

from ccnet.client import Keypair
from ccnet.client.net import ice
from ccnet.client.net.exceptions import SignalingError
from ccnet.client.net.sdp import (
    candidate_addresses,
    dtls_fingerprint,
    filter_candidates,
    has_data_channel,
)
from ccnet.client.net.signaling import ReplayGuard, SignalMessage, check_signal

NOW = 1_700_000_000_000
FP = "sha-256 " + ":".join(["AB"] * 32)
SDP = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
        "a=candidate:2 1 udp 2130706431 192.168.1.20 5001 typ host",
        "a=candidate:3 1 udp 2130706431 8.8.8.8 5002 typ host",
        "a=candidate:4 1 udp 2130706431 fd00::2 5003 typ host",
        "a=candidate:5 1 udp 2130706431 abcd.local 5004 typ host",
        "a=candidate:6 1 udp",
        "a=end-of-candidates",
        f"a=fingerprint:{FP.lower()}",
        "a=fingerprint:sha-384 00:11",
        "",
    ]
)


def offer(signer: Keypair, peer: Keypair, **kwargs: object) -> SignalMessage:
    return SignalMessage.create(
        signer,
        "offer",
        SDP,
        peer=peer.ss58_address,
        labels=("tasks",),
        timestamp_ms=NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_good_offer_passes(net_requester: Keypair, net_worker: Keypair) -> None:
    msg = offer(net_requester, net_worker)
    assert msg.fingerprint == FP
    again = SignalMessage.from_json(msg.to_json())
    assert again == msg
    check_signal(again, kind="offer", me=net_worker.ss58_address, now=NOW + 5)


def test_an_offer_signed_by_the_wrong_key_is_refused(
    net_requester: Keypair, net_worker: Keypair, net_intruder: Keypair
) -> None:
    forged = replace(offer(net_intruder, net_worker), signer=net_requester.ss58_address)
    with pytest.raises(SignalingError, match="not signed by its signer") as err:
        check_signal(forged, kind="offer", me=net_worker.ss58_address, now=NOW)
    assert err.value.status == 401


@pytest.mark.parametrize(
    "change", [{"sdp": SDP.replace("5000", "5999")}, {"labels": ("tasks", "channels")}]
)
def test_an_altered_offer_is_refused(
    net_requester: Keypair, net_worker: Keypair, change: dict[str, object]
) -> None:
    altered = replace(offer(net_requester, net_worker), **change)  # type: ignore[arg-type]
    with pytest.raises(SignalingError, match="not signed"):
        check_signal(altered, kind="offer", me=net_worker.ss58_address, now=NOW)


def test_checks_age_addressee_signer_kind_and_reply(
    net_requester: Keypair, net_worker: Keypair, net_intruder: Keypair
) -> None:
    msg = offer(net_requester, net_worker)
    me = net_worker.ss58_address
    cases: list[tuple[dict[str, object], str, int]] = [
        ({"now": NOW + 61_000}, "stale", 401),
        ({"now": NOW - 61_000}, "from the future", 401),
        ({"me": net_intruder.ss58_address}, "addressed to", 403),
        ({"expected_signer": net_intruder.ss58_address}, "expected", 403),
        ({"kind": "answer"}, "expected an answer", 400),
        ({"reply_to": "00" * 16}, "answers another offer", 400),
    ]
    for overrides, match, status in cases:
        kwargs: dict[str, object] = {"kind": "offer", "me": me, "now": NOW, **overrides}
        with pytest.raises(SignalingError, match=match) as err:
            check_signal(msg, **kwargs)  # type: ignore[arg-type]
        assert err.value.status == status


def test_fingerprint_must_match_the_sdp(net_requester: Keypair, net_worker: Keypair) -> None:
    other = "sha-256 " + ":".join(["CD"] * 32)
    unsigned = replace(offer(net_requester, net_worker), fingerprint=other, signature="")
    from ccnet.client.net.signaling import SIGNAL_DOMAIN
    from ccnet.client.signing import sign_fields

    lying = replace(
        unsigned, signature=sign_fields(net_requester, SIGNAL_DOMAIN, unsigned.fields())
    )
    with pytest.raises(SignalingError, match="fingerprint does not match"):
        check_signal(lying, kind="offer", me=net_worker.ss58_address, now=NOW)


def test_a_replayed_offer_is_refused(net_requester: Keypair, net_worker: Keypair) -> None:
    guard = ReplayGuard()
    msg = offer(net_requester, net_worker)
    check_signal(msg, kind="offer", me=net_worker.ss58_address, now=NOW, guard=guard)
    with pytest.raises(SignalingError, match="replayed") as err:
        check_signal(msg, kind="offer", me=net_worker.ss58_address, now=NOW, guard=guard)
    assert err.value.status == 401


def test_replay_guard_forgets_expired_nonces_and_refuses_when_full() -> None:
    guard = ReplayGuard(window_ms=10, capacity=2)
    guard.remember("a", "1", 0, now=0)
    guard.remember("a", "2", 0, now=0)
    with pytest.raises(SignalingError, match="too many") as err:
        guard.remember("a", "3", 0, now=5)
    assert err.value.status == 503
    guard.remember("a", "3", 100, now=100)  # 1 and 2 expired
    assert len(guard) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "hello"},
        {"nonce": "xyz"},
        {"labels": []},
        {"labels": ["a", "a"]},
        {"labels": ["Bad Label"]},
        {"timestamp_ms": -1},
        {"peer": "nobody"},
        {"reply_to": "00" * 16},
        {"sdp": "x" * 70_000},
    ],
)
def test_malformed_messages_are_refused(
    net_requester: Keypair, net_worker: Keypair, change: dict[str, object]
) -> None:
    obj = {**offer(net_requester, net_worker).to_json(), **change}
    with pytest.raises(SignalingError, match="malformed") as err:
        SignalMessage.from_json(obj)
    assert err.value.status == 400
    with pytest.raises(SignalingError, match="malformed"):
        SignalMessage.from_json({"kind": "offer"})


def test_fingerprint_extraction() -> None:
    assert dtls_fingerprint(SDP) == FP
    with pytest.raises(SignalingError, match="no sha-256"):
        dtls_fingerprint("v=0\r\n")
    two = SDP + "a=fingerprint:sha-256 " + ":".join(["CD"] * 32) + "\r\n"
    with pytest.raises(SignalingError, match="several"):
        dtls_fingerprint(two)


def test_data_channel_section_is_detected() -> None:
    assert has_data_channel(SDP)
    assert not has_data_channel(SDP.replace("m=application", "m=audio"))


LOOPBACK = ice.LOOPBACK_NETWORKS
LOOPBACK_AND_LAN = ice.parse_ice_networks(["loopback", "lan"])


def test_candidate_filter_keeps_the_allowed_networks_only() -> None:
    assert candidate_addresses(filter_candidates(SDP, LOOPBACK)) == ["127.0.0.1"]
    assert candidate_addresses(filter_candidates(SDP, LOOPBACK_AND_LAN)) == [
        "127.0.0.1",
        "192.168.1.20",
        "fd00::2",
    ]
    filtered = filter_candidates(SDP, LOOPBACK)
    assert filtered.endswith("\r\n") and "a=fingerprint" in filtered


@pytest.mark.parametrize(
    ("host", "lan", "allowed"),
    [
        ("127.0.0.1", False, True),
        ("127.5.0.1", False, True),
        ("::1", False, True),
        ("10.1.2.3", False, False),
        ("10.1.2.3", True, True),
        ("172.20.0.1", True, True),
        ("172.32.0.1", True, False),
        ("192.0.2.2", True, False),
        ("fe80::1", True, False),
        ("1.1.1.1", True, False),
        ("host.local", True, False),
    ],
)
def test_address_policy(host: str, lan: bool, allowed: bool) -> None:
    assert ice.is_allowed_address(host, LOOPBACK_AND_LAN if lan else LOOPBACK) is allowed


def test_gathering_scope_replaces_aioice_host_addresses() -> None:
    assert ice.host_addresses(LOOPBACK) == ["127.0.0.1"]
    assert all(
        ice.is_allowed_address(a, LOOPBACK_AND_LAN) for a in ice.host_addresses(LOOPBACK_AND_LAN)
    )
    with ice.gathering_on(["127.0.0.1", "::1"]):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1"]
    outside = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    assert "127.0.0.1" not in outside  # aioice's own behaviour outside the scope
