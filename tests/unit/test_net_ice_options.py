"""The network options for serving other machines: allowed ICE networks, STUN/TURN
servers, the advertised signaling URL, and their CLI options on both sides."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccnet.client import CC
from ccnet.client.cli import app
from ccnet.client.commands import _common
from ccnet.client.commands._network import (
    check_signaling_options,
    peer_config_from_options,
)
from ccnet.client.exceptions import ConfigError, UsageError
from ccnet.client.net import ice
from ccnet.client.net.exceptions import NetConfigError
from ccnet.client.net.sdp import candidate_addresses, filter_candidates
from ccnet.client.net.signaling import SignalingServer, check_signaling_url
from ccnet.client.net.webrtc import PeerConfig
from ccnet.worker import daemon as daemon_module
from ccnet.worker.daemon import DaemonConfig, ReadyInfo
from ccnet.worker.onchain import Registration

runner = CliRunner()
SUBNET = ice.parse_ice_networks(["10.201.0.0/24"])
EVERYWHERE = ice.parse_ice_networks(["0.0.0.0/0", "::/0"])


def sdp_with(*addresses: str) -> str:
    lines = ["v=0", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel"]
    lines += [f"a=candidate:{i} 1 udp 1 {a} {5000 + i} typ host" for i, a in enumerate(addresses)]
    return "\r\n".join(lines) + "\r\n"


# --- allowed networks ----------------------------------------------------------------------


def test_networks_parse_cidrs_and_names_in_order_without_duplicates() -> None:
    parsed = ice.parse_ice_networks(["10.201.0.0/24, fd00::/8", "loopback", "10.201.0.0/24"])
    assert parsed == (
        ipaddress.ip_network("10.201.0.0/24"),
        ipaddress.ip_network("fd00::/8"),
        *ice.LOOPBACK_NETWORKS,
    )
    assert ice.parse_ice_networks(["LAN"]) == ice.LAN_NETWORKS
    assert ice.parse_ice_networks(["192.0.2.7"]) == (ipaddress.ip_network("192.0.2.7/32"),)
    assert ice.DEFAULT_ICE_NETWORKS == ice.LOOPBACK_NETWORKS


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["10.201.0.1/24"], "host bits set"),  # an address where a network was meant
        (["10.300.0.0/16"], "not an ICE network"),
        (["wan"], "loopback, lan"),
        (["10.0.0.0/33"], "not an ICE network"),
        ([" , "], "no ICE network"),
        ([], "no ICE network"),
    ],
)
def test_bad_networks_are_refused(values: list[str], message: str) -> None:
    with pytest.raises(NetConfigError, match=message) as err:
        ice.parse_ice_networks(values)
    assert isinstance(err.value, ConfigError)


@pytest.mark.parametrize(
    ("host", "networks", "allowed"),
    [
        ("10.201.0.2", SUBNET, True),
        ("10.201.1.2", SUBNET, False),
        ("127.0.0.1", SUBNET, False),  # no loopback shortcut on another machine's network
        ("127.0.0.1", EVERYWHERE, False),  # 0.0.0.0/0 does not open our loopback
        ("::1", EVERYWHERE, False),
        ("::ffff:127.0.0.1", EVERYWHERE, False),  # IPv4-mapped loopback
        ("::ffff:10.201.0.2", SUBNET, True),
        ("0.0.0.0", EVERYWHERE, False),
        ("::", EVERYWHERE, False),
        ("224.0.0.1", EVERYWHERE, False),
        ("ff02::1", EVERYWHERE, False),
        ("203.0.113.9", EVERYWHERE, True),
        ("2001:db8::1", EVERYWHERE, True),
        ("worker.local", EVERYWHERE, False),
        ("127.0.0.1", ice.LOOPBACK_NETWORKS, True),
        ("10.201.0.2", ice.LOOPBACK_NETWORKS, False),
        ("169.254.1.1", EVERYWHERE, False),  # link-local
        ("fe80::1", EVERYWHERE, False),
        ("255.255.255.255", EVERYWHERE, False),  # limited broadcast
        ("::127.0.0.1", EVERYWHERE, False),  # IPv4-compatible loopback
        ("::127.0.0.1", ice.LOOPBACK_NETWORKS, False),
        ("::0.0.0.2", EVERYWHERE, False),  # judged as 0.0.0.2: "this network"
        ("0.1.2.3", EVERYWHERE, False),
        ("::10.201.0.2", SUBNET, True),
        ("::8.8.8.8", SUBNET, False),
        ("64:ff9b::127.0.0.1", EVERYWHERE, False),  # NAT64
        ("64:ff9b::10.201.0.2", SUBNET, True),
        ("64:ff9b::a9fe:101", EVERYWHERE, False),  # NAT64 of 169.254.1.1
        ("2002:7f00:1::", EVERYWHERE, False),  # 6to4 of 127.0.0.1
        ("2002::", EVERYWHERE, False),  # 6to4 of 0.0.0.0
        ("2002:e000:1::", EVERYWHERE, False),  # 6to4 of 224.0.0.1
        ("2002:cb00:7109::", EVERYWHERE, True),  # 6to4 of 203.0.113.9
        ("2002:cb00:7109::", SUBNET, False),
        ("2002:ac9:2::", SUBNET, True),  # 6to4 of 10.201.0.2
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", EVERYWHERE, False),  # Teredo: 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:f536:fffd", SUBNET, True),  # Teredo: 10.201.0.2
        ("2001:0:4136:e378:8000:63bf:f536:fffd", ice.LOOPBACK_NETWORKS, False),
    ],
)
def test_address_policy(host: str, networks: tuple[ice.IceNetwork, ...], allowed: bool) -> None:
    assert ice.is_allowed_address(host, networks) is allowed


def test_gathering_takes_local_addresses_inside_the_networks_only() -> None:
    assert ice.host_addresses(ice.LOOPBACK_NETWORKS) == ["127.0.0.1"]
    assert ice.host_addresses(ice.parse_ice_networks(["233.252.0.0/24"])) == []  # multicast
    everywhere = ice.host_addresses(EVERYWHERE)
    assert "127.0.0.1" not in everywhere and "::1" not in everywhere
    for address in everywhere:  # each interface address alone, by its own /32 or /128
        assert ice.host_addresses(ice.parse_ice_networks([address])) == [address]


def test_dropped_candidates_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    sdp = sdp_with("10.201.0.2", "127.0.0.1", "198.51.100.4", "evil.local")
    with caplog.at_level(logging.WARNING, logger="ccnet.client.net.sdp"):
        kept = filter_candidates(sdp, SUBNET, whose="the offer's")
    assert candidate_addresses(kept) == ["10.201.0.2"]
    (record,) = caplog.records
    message = record.getMessage()
    assert "dropped 3 ICE candidate(s) of the offer's SDP" in message
    assert "10.201.0.0/24" in message
    assert all(a in message for a in ("127.0.0.1", "198.51.100.4", "evil.local"))


def test_peer_config_needs_a_network() -> None:
    assert PeerConfig().ice_networks == ice.LOOPBACK_NETWORKS and PeerConfig().ice_servers == ()
    with pytest.raises(NetConfigError, match="at least one"):
        PeerConfig(ice_networks=())


# --- STUN / TURN ---------------------------------------------------------------------------


def test_ice_servers_become_rtc_ice_servers() -> None:
    stun, turn = ice.parse_ice_servers(
        ["stun:stun.example.org:3478", "turn:198.51.100.1?transport=tcp"],
        username="alice",
        credential="s3cret",
    )
    assert stun.urls == "stun:stun.example.org:3478" and stun.username is None
    assert (turn.urls, turn.username, turn.credential) == (
        "turn:198.51.100.1?transport=tcp",
        "alice",
        "s3cret",
    )
    assert ice.parse_ice_servers([]) == ()
    (turns,) = ice.parse_ice_servers(["turns:turn.example.org"], username="a", credential="b")
    assert turns.urls == "turns:turn.example.org"


@pytest.mark.parametrize(
    ("urls", "creds", "message"),
    [
        (["http://stun.example.org"], {}, "not a STUN/TURN URL"),
        (["stun:"], {}, "not a STUN/TURN URL"),
        (["stun:host?transport=udp"], {}, "not a STUN/TURN URL"),
        (["stuns:stun.example.org"], {}, "stuns"),
        (["stun:a.example", "stun:b.example"], {}, "only one STUN"),
        (["turn:a.example", "turn:b.example"], {"username": "u", "credential": "c"}, "one TURN"),
        (["turn:a.example"], {}, "needs a username and a credential"),
        (["turn:a.example"], {"username": "u"}, "needs a username and a credential"),
        (["turn:a.example?transport=sctp"], {"username": "u", "credential": "c"}, "udp or tcp"),
        (["turns:a.example?transport=udp"], {"username": "u", "credential": "c"}, "TCP only"),
        (["stun:a.example:70000"], {}, "1-65535"),
        (["stun:a.example"], {"username": "u", "credential": "c"}, "without a turn"),
    ],
)
def test_bad_ice_servers_are_refused(urls: list[str], creds: dict[str, str], message: str) -> None:
    with pytest.raises(NetConfigError, match=message):
        ice.parse_ice_servers(urls, **creds)


# --- signaling URL -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.201.0.1:8443/offer",
        "https://worker.example.org/offer",
        "http://[2001:db8::1]:80/x",
    ],
)
def test_good_signaling_urls(url: str) -> None:
    assert check_signaling_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://10.201.0.1/offer", "scheme"),
        ("http://0.0.0.0:8443/offer", "not an address a peer can reach"),
        ("http://[::]:8443/offer", "not an address a peer can reach"),
        ("http://10.201.0.1:8443", "needs a path"),
        ("http://user:pw@10.201.0.1/offer", "user info"),
        ("http://10.201.0.1/offer?x=1", "query"),
        ("http://10.201.0.1:0/offer", "port 0"),
        ("http://10.201.0.1:99999/offer", "bad port"),
        ("http:///offer", "no host"),
        ("http://10.201.0.1/" + "a" * 300, "longer than"),
        ("http://wörker/offer", "printable ASCII"),
    ],
)
def test_bad_signaling_urls(url: str, message: str) -> None:
    with pytest.raises(NetConfigError, match=message):
        check_signaling_url(url)


async def _answer(offer: Any) -> Any:
    raise AssertionError("not called")


def test_signaling_server_advertises_its_public_url() -> None:
    with pytest.raises(NetConfigError, match="binds every interface"):
        SignalingServer(_answer, host="0.0.0.0")
    public = SignalingServer(_answer, host="0.0.0.0", public_url="http://198.51.100.7:8443/offer")
    assert public.url == "http://198.51.100.7:8443/offer"
    assert SignalingServer(_answer, host="::1", port=9).url == "http://[::1]:9/offer"
    with pytest.raises(NetConfigError):
        SignalingServer(_answer, public_url="http://0.0.0.0/offer")


# --- the CLI options -----------------------------------------------------------------------


def test_option_helpers_raise_usage_errors() -> None:
    config = peer_config_from_options(["10.201.0.0/24"], ["stun:198.51.100.1"], None, None)
    assert config.ice_networks == SUBNET and len(config.ice_servers) == 1
    assert peer_config_from_options(None, None, None, None) == PeerConfig()
    with pytest.raises(UsageError, match="not an ICE network"):
        peer_config_from_options(["10.201.0.0/40"], None, None, None)
    with pytest.raises(UsageError, match="needs a username"):
        peer_config_from_options(None, ["turn:198.51.100.1"], None, None)
    check_signaling_options("0.0.0.0", "http://10.201.0.1:8443/offer")
    with pytest.raises(UsageError, match="--signaling-url"):
        check_signaling_options("0.0.0.0", None)
    with pytest.raises(UsageError, match="--signaling-url"):
        check_signaling_options("10.201.0.1", "tcp://10.201.0.1/offer")
    with pytest.raises(UsageError, match="--signaling-host"):
        check_signaling_options("worker.example.org", None)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    def no_chain(url: str, wait: str = "inclusion") -> Any:
        raise AssertionError("the command must not connect")

    monkeypatch.setattr(_common, "connect", no_chain)
    for name in os.environ:
        if name.startswith(("CCNET_ICE_", "CCNET_DHT_", "CCNET_WORKER_SIGNALING")):
            monkeypatch.delenv(name)
    for name in ("CCNET_URL", "CCNET_KEY", "CCNET_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CCNET_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("CCNET_KEYSTORE", str(tmp_path / "keystore"))
    level = logging.getLogger("ccnet").level  # `worker run` raises it to INFO
    yield
    logging.getLogger("ccnet").setLevel(level)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ice-network", "10.201.0.1/24"], "host bits set"),
        (["--ice-server", "stun:a", "--ice-server", "stun:b"], "only one STUN"),
        (["--ice-server", "turn:198.51.100.1"], "needs a username"),
        (["--signaling-host", "0.0.0.0"], "--signaling-url"),
        (["--signaling-url", "http://0.0.0.0:1/offer"], "not an address a peer can reach"),
        (["--dht-host", "my-host"], "--dht-host"),
    ],
)
def test_worker_run_refuses_bad_network_options(
    cli_env: None, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["worker", "run", "--key", "//Bob", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


class FakeDaemon:
    """Stands in for WorkerDaemon: 'starts', then sends this process SIGTERM."""

    configs: list[DaemonConfig] = []

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.address = str(config.keypair.ss58_address)
        self.executor = self.tasks = self.disputes = self.handler = None
        FakeDaemon.configs.append(config)

    async def start(self) -> ReadyInfo:
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        return ReadyInfo(
            self.address,
            self.config.signaling_url or "http://127.0.0.1:1/offer",
            self.config.dht_host,
            2,
            1.0,
            1,
            1,
            Registration(self.address, 10 * CC, 10 * CC, "registered", None),
            None,
        )

    async def stop(self) -> None:
        pass


def test_worker_run_threads_the_network_options(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(daemon_module, "WorkerDaemon", FakeDaemon)
    monkeypatch.setenv("CCNET_ICE_CREDENTIAL", "s3cret")  # secrets through the environment
    args = ["--url", "ws://127.0.0.1:1", "worker", "run", "-k", "//Bob"]
    args += ["--state-dir", str(tmp_path / "w"), "--signaling-host", "0.0.0.0"]
    args += ["--signaling-port", "8443", "--signaling-url", "http://10.201.0.1:8443/offer"]
    args += ["--dht-host", "10.201.0.1", "--ice-network", "10.201.0.0/24"]
    args += ["--ice-server", "turn:10.201.0.9", "--ice-username", "bob"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    ready = json.loads(result.stdout.splitlines()[0])
    assert ready["signaling_url"] == "http://10.201.0.1:8443/offer"
    config = FakeDaemon.configs[-1]
    assert (config.signaling_host, config.signaling_port) == ("0.0.0.0", 8443)
    assert config.signaling_url == "http://10.201.0.1:8443/offer"
    assert config.dht_host == "10.201.0.1"
    assert config.peer.ice_networks == SUBNET
    (turn,) = config.peer.ice_servers
    assert (turn.urls, turn.username, turn.credential) == ("turn:10.201.0.9", "bob", "s3cret")


def test_worker_run_defaults_to_loopback(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(daemon_module, "WorkerDaemon", FakeDaemon)
    args = ["--url", "ws://127.0.0.1:1", "worker", "run", "-k", "//Bob"]
    result = runner.invoke(app, [*args, "--state-dir", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    config = FakeDaemon.configs[-1]
    assert (config.signaling_host, config.signaling_url, config.dht_host) == (
        "127.0.0.1",
        None,
        "127.0.0.1",
    )
    assert config.peer == PeerConfig()


def test_worker_run_reads_the_network_environment(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(daemon_module, "WorkerDaemon", FakeDaemon)
    monkeypatch.setenv("CCNET_ICE_NETWORK", "10.201.0.0/24 loopback")
    monkeypatch.setenv("CCNET_WORKER_SIGNALING_HOST", "10.201.0.1")
    monkeypatch.setenv("CCNET_DHT_HOST", "10.201.0.1")
    args = ["--url", "ws://127.0.0.1:1", "worker", "run", "-k", "//Bob"]
    result = runner.invoke(app, [*args, "--state-dir", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    config = FakeDaemon.configs[-1]
    assert config.signaling_host == "10.201.0.1" and config.dht_host == "10.201.0.1"
    assert config.peer.ice_networks == (*SUBNET, *ice.LOOPBACK_NETWORKS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ice-network", "not-a-net"], "not an ICE network"),
        (["--ice-server", "stuns:a.example"], "stuns"),
        (["--ice-username", "u"], "without a turn"),
        (["--dht-host", "0.0.0.0.0"], "--dht-host"),
    ],
)
def test_job_run_refuses_bad_network_options(
    cli_env: None, tmp_path: Path, args: list[str], message: str
) -> None:
    module = tmp_path / "job.wasm"
    module.write_bytes(b"\0asm\x01\0\0\0")
    base = ["job", "run", "--key", "//Alice", str(module), "--dht-bootstrap", "10.201.0.1:7000"]
    result = runner.invoke(app, [*base, *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_job_workers_refuses_a_bad_dht_host(cli_env: None) -> None:
    args = ["job", "workers", "--dht-bootstrap", "10.201.0.1:7000", "--dht-host", "x"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--dht-host" in result.stdout + result.stderr


# --- SDP line breaks and peer-reflexive candidates ----------------------------------------

# every character str.splitlines (and so aiortc's SDP parser) breaks a line at, but CRLF/LF
HIDDEN_BREAKS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
SMUGGLED = "a=candidate:2 1 udp 2130706431 8.8.8.8 53 typ host"


def smuggling_sdp(separator: str) -> str:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=fingerprint:sha-256 AB:CD",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
        f"a=sctp-port:5000{separator}{SMUGGLED}",
    ]
    return "\r\n".join(lines) + "\r\n"


def aiortc_candidates(sdp: str) -> list[str]:
    from aiortc.sdp import SessionDescription

    parsed = SessionDescription.parse(sdp)
    return [c.ip for media in parsed.media for c in media.ice_candidates]


@pytest.mark.parametrize("separator", HIDDEN_BREAKS)
def test_a_candidate_hidden_behind_another_line_break_is_refused(separator: str) -> None:
    from ccnet.client.net import webrtc
    from ccnet.client.net.exceptions import SignalingError
    from ccnet.client.net.sdp import dtls_fingerprint

    sdp = smuggling_sdp(separator)
    assert "8.8.8.8" in aiortc_candidates(sdp)  # what aiortc would have used
    for kind in ("offer", "answer"):  # the worker reading offers, the requester answers
        with pytest.raises(SignalingError, match="line break other than CRLF or LF") as err:
            webrtc._usable_remote_sdp(sdp, kind, PeerConfig())
        assert err.value.status == 400
    with pytest.raises(SignalingError, match="line break"):
        filter_candidates(sdp, ice.LOOPBACK_NETWORKS)
    with pytest.raises(SignalingError, match="line break"):
        dtls_fingerprint(sdp)  # check_signal reads it first: the offer is refused there


@pytest.mark.parametrize("line_end", ["\r\n", "\n"])
def test_aiortc_gets_exactly_the_candidates_we_kept(line_end: str) -> None:
    from ccnet.client.net import webrtc

    sdp = smuggling_sdp(line_end).replace("\r\n", line_end)
    usable = webrtc._usable_remote_sdp(sdp, "offer", PeerConfig())
    assert aiortc_candidates(usable) == candidate_addresses(usable) == ["127.0.0.1"]


class RecordingProtocol:
    """A StunProtocol stand-in that records what the connection sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[object, tuple[str, int]]] = []

    def send_stun(self, message: object, addr: tuple[str, int]) -> None:
        self.sent.append((message, addr))


def test_checks_from_outside_the_networks_teach_no_peer_reflexive_candidate() -> None:
    import aioice.ice
    import aioice.stun

    connection = aioice.ice.Connection(ice_controlling=False)
    connection.remote_username = "peer"
    connection.remote_password = "peer-password-0123456789"
    ice.restrict_incoming_checks(connection, ice.LOOPBACK_NETWORKS)
    connection._early_checks_done = True  # connect() has run: checks go straight through
    learned: list[tuple[str, int]] = []
    connection.check_incoming = lambda message, addr, protocol: learned.append(addr)  # type: ignore[method-assign]

    def check() -> aioice.stun.Message:
        request = aioice.stun.Message(
            message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.REQUEST
        )
        request.attributes["USERNAME"] = f"{connection.local_username}:peer"
        request.attributes["PRIORITY"] = 1
        request.attributes["ICE-CONTROLLING"] = 1
        request.add_message_integrity(connection.local_password.encode())
        return aioice.stun.parse_message(bytes(request))

    protocol = RecordingProtocol()
    for outside in ("8.8.8.8", "169.254.1.1", "10.0.0.1"):
        connection.request_received(check(), (outside, 53), protocol)  # type: ignore[arg-type]
    assert protocol.sent == [] and learned == []
    connection.request_received(check(), ("127.0.0.1", 5000), protocol)  # type: ignore[arg-type]
    assert [addr for _, addr in protocol.sent] == [("127.0.0.1", 5000)]
    assert learned == [("127.0.0.1", 5000)]
    other = aioice.ice.Connection(ice_controlling=False)  # not restricted: unchanged
    assert other not in ice._CHECK_NETWORKS
