"""Which addresses WebRTC may use, and through which STUN/TURN servers.

A session's ICE candidates, ours and the peer's, must lie in the *allowed networks*
(``docs/protocol.md``, section 6): by default loopback only (:data:`LOOPBACK_NETWORKS`),
which serves requesters on the same machine; a deployment lists its own with
:func:`parse_ice_networks` (CIDRs, or the names ``loopback`` and ``lan``), e.g.
``["10.201.0.0/24"]`` for one subnet, ``["lan"]`` for RFC 1918 / RFC 4193 ranges,
``["0.0.0.0/0", "::/0"]`` for the internet (then with STUN/TURN servers:
:func:`parse_ice_servers`). The list decides three things:

- which local addresses host candidates are gathered on (:func:`host_addresses`:
  this machine's interface addresses inside the networks);
- which of our candidates go into our SDP (server-reflexive and relay ones from
  STUN/TURN too), and which of the peer's are kept (:func:`is_allowed_address`, applied
  by :func:`ccnet.client.net.sdp.filter_candidates`; a dropped candidate is logged, never
  used), so no ICE check goes to an address outside the list;
- nothing else: it is not a firewall, the signaling endpoint binds what it is told.

Whatever the list, some addresses are never allowed: hostnames (mDNS ``*.local``),
the unspecified (``0.0.0.0``, ``::``; all of 0.0.0.0/8), multicast, link-local (169.254.0.0/16,
fe80::/10) and limited-broadcast (255.255.255.255) addresses; and loopback only when a
listed network is itself loopback (``0.0.0.0/0`` does not let a remote peer aim our ICE
checks at our own loopback services). An IPv6 address embedding an IPv4 one counts as
that IPv4 address: IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
``64:ff9b::/96``, 6to4 ``2002::/16`` and Teredo ``2001::/32``; of these only the mapped
form may stand for loopback.

The peer's candidates come from its SDP, and also from its STUN checks: aioice learns
the source of an authenticated incoming check as a peer-reflexive candidate and sends
checks back there. :func:`restrict_incoming_checks` makes a connection ignore checks
from outside the allowed networks.

Two gaps in aioice 0.13 are closed here: aioice never gathers a loopback candidate
(``get_host_addresses`` skips 127.0.0.1) and gathers every other interface, public ones
included. :func:`gathering_on` scopes a replacement address list to the current task
through a context variable; :func:`install_host_address_hook` wraps
``aioice.ice.get_host_addresses`` once so the list applies. Outside a
:func:`gathering_on` block aioice behaves as before.

STUN/TURN: aiortc 1.16 uses at most one STUN and one TURN server and silently skips
``stuns:`` URLs, further servers and unsupported transports; :func:`parse_ice_servers`
refuses those instead, so a configured server is a used one.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import aioice.ice
import aioice.stun
import ifaddr
from aiortc import RTCIceServer
from aiortc.rtcicetransport import parse_stun_turn_uri

from .exceptions import NetConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_ICE_NETWORKS",
    "IceNetwork",
    "LAN_NETWORKS",
    "LOOPBACK_HOST",
    "LOOPBACK_NETWORKS",
    "NETWORK_NAMES",
    "describe_networks",
    "gathering_on",
    "host_addresses",
    "install_host_address_hook",
    "is_allowed_address",
    "parse_ice_networks",
    "parse_ice_servers",
    "restrict_incoming_checks",
]

IceNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK_HOST = "127.0.0.1"
"""The loopback address gathered first when loopback is allowed."""

LOOPBACK_NETWORKS: tuple[IceNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
"""Loopback: 127.0.0.0/8 and ::1."""

LAN_NETWORKS: tuple[IceNetwork, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)
"""Private (LAN) ranges: RFC 1918 and RFC 4193."""

NETWORK_NAMES: dict[str, tuple[IceNetwork, ...]] = {
    "loopback": LOOPBACK_NETWORKS,
    "lan": LAN_NETWORKS,
}
"""Names :func:`parse_ice_networks` accepts besides CIDRs."""

DEFAULT_ICE_NETWORKS = LOOPBACK_NETWORKS
"""The allowed networks when none are configured: this machine only."""

_HOST_ADDRESSES: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "ccnet_ice_host_addresses", default=None
)
_original_get_host_addresses = aioice.ice.get_host_addresses
_CHECK_NETWORKS: weakref.WeakKeyDictionary[aioice.ice.Connection, tuple[IceNetwork, ...]] = (
    weakref.WeakKeyDictionary()
)
_original_request_received = aioice.ice.Connection.request_received


def parse_ice_networks(values: Iterable[str]) -> tuple[IceNetwork, ...]:
    """The allowed networks named by *values*: CIDRs (``10.201.0.0/24``, ``fd00::/8``; a
    bare address is a /32 or /128) or the names of :data:`NETWORK_NAMES`; each value may
    list several, separated by commas or spaces. Duplicates are dropped, order kept.

    Raises :class:`NetConfigError` for a value that is neither (host bits set, as in
    ``10.201.0.1/24``, count as a mistake), or when *values* name nothing."""
    networks: list[IceNetwork] = []
    for value in values:
        for item in value.replace(",", " ").split():
            named = NETWORK_NAMES.get(item.lower())
            if named is not None:
                found = list(named)
            else:
                try:
                    found = [ipaddress.ip_network(item, strict=True)]
                except ValueError as err:
                    raise NetConfigError(
                        f"not an ICE network: {item!r} ({err}); write a CIDR such as "
                        f"10.201.0.0/24, or one of: {', '.join(NETWORK_NAMES)}"
                    ) from None
            networks += [net for net in found if net not in networks]
    if not networks:
        raise NetConfigError("no ICE network given: name at least one CIDR, loopback or lan")
    return tuple(networks)


def describe_networks(networks: Sequence[IceNetwork]) -> str:
    """*networks* for a log line or an error: ``"127.0.0.0/8, ::1/128"``."""
    return ", ".join(str(net) for net in networks)


_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # RFC 1122: a source, never a destination
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries: IPv4-mapped ``::ffff:a.b.c.d``,
    IPv4-compatible ``::a.b.c.d`` (RFC 4291 2.5.5.1; ``::`` and ``::1`` excluded),
    NAT64 ``64:ff9b::/96`` (RFC 6052), 6to4 ``2002::/16`` (RFC 3056) and Teredo
    ``2001::/32`` (RFC 4380, the client's address)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def _normalised(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            if embedded.is_loopback and address.ipv4_mapped is None:
                return None  # only the mapped form reaches our own loopback as such
            return embedded
    return address


def is_allowed_address(host: str, networks: Sequence[IceNetwork]) -> bool:
    """Whether a candidate address *host* lies in one of *networks* (see the module
    doc for the addresses never allowed: hostnames, unspecified, multicast, link-local,
    the limited broadcast, and loopback unless a listed network is loopback; an IPv6
    form embedding an IPv4 address counts as that IPv4 address)."""
    address = _normalised(host)
    if (
        address is None
        or address.is_unspecified
        or address.is_multicast
        or address.is_link_local
        or address == _LIMITED_BROADCAST
        or address in _THIS_NETWORK
    ):
        return False
    inside = [net for net in networks if net.version == address.version and address in net]
    if address.is_loopback:
        return any(net.is_loopback for net in inside)
    return bool(inside)


def host_addresses(networks: Sequence[IceNetwork]) -> list[str]:
    """Addresses to gather host candidates on: this machine's interface addresses inside
    *networks*, no IPv6 scope-qualified ones; of loopback, only 127.0.0.1 (first, when
    loopback is allowed)."""
    addresses = [LOOPBACK_HOST] if is_allowed_address(LOOPBACK_HOST, networks) else []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            host = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            scoped = not isinstance(ip.ip, str) and ip.ip[2] != 0
            loopback = ipaddress.ip_address(host).is_loopback
            if (
                not scoped
                and not loopback
                and host not in addresses
                and is_allowed_address(host, networks)
            ):
                addresses.append(host)
    return addresses


def parse_ice_servers(
    urls: Iterable[str], *, username: str | None = None, credential: str | None = None
) -> tuple[RTCIceServer, ...]:
    """STUN/TURN servers for ``RTCConfiguration(iceServers=...)`` from URLs (RFC 7064
    ``stun:host[:port]``, RFC 7065 ``turn:host[:port][?transport=udp|tcp]``,
    ``turns:host[:port][?transport=tcp]``); *username* and *credential* (long-term
    credentials) go with the TURN URL.

    Raises :class:`NetConfigError` for a URL aiortc cannot parse, ``stuns:``, more than
    one STUN or TURN URL (aiortc would silently use only the first), a TURN URL without
    both credentials, or credentials without a TURN URL."""
    servers: list[RTCIceServer] = []
    seen: dict[str, str] = {}
    for url in urls:
        url = url.strip()
        try:
            parsed = parse_stun_turn_uri(url)
        except ValueError as err:
            raise NetConfigError(
                f"not a STUN/TURN URL: {url!r} ({err}); write stun:HOST[:PORT] or "
                "turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT]"
            ) from None
        scheme = str(parsed["scheme"])
        if scheme == "stuns":
            raise NetConfigError(f"{url!r}: aiortc does not support stuns: URLs; use stun:")
        if scheme == "turns" and parsed.get("transport") != "tcp":
            raise NetConfigError(f"{url!r}: turns: runs over TCP only (transport=tcp)")
        if scheme == "turn" and parsed.get("transport") not in ("udp", "tcp"):
            raise NetConfigError(f"{url!r}: a TURN transport is udp or tcp")
        if not 0 < int(parsed["port"]) < 65536:
            raise NetConfigError(f"{url!r}: the port must be 1-65535")
        kind = "STUN" if scheme == "stun" else "TURN"
        if kind in seen:
            raise NetConfigError(
                f"only one {kind} server is supported (aiortc uses the first): "
                f"{seen[kind]!r} and {url!r}"
            )
        seen[kind] = url
        if kind == "TURN":
            if not username or not credential:
                raise NetConfigError(f"the TURN server {url!r} needs a username and a credential")
            servers.append(RTCIceServer(urls=url, username=username, credential=credential))
        else:
            servers.append(RTCIceServer(urls=url))
    if (username or credential) and "TURN" not in seen:
        raise NetConfigError("a TURN username or credential was given without a turn: URL")
    return tuple(servers)


def _scoped_get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    scoped = _HOST_ADDRESSES.get()
    if scoped is None:
        return _original_get_host_addresses(use_ipv4, use_ipv6)
    chosen = []
    for host in scoped:
        version = ipaddress.ip_address(host).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            chosen.append(host)
    return chosen


def install_host_address_hook() -> None:
    """Route aioice's host-address lookup through :func:`gathering_on` (idempotent)."""
    aioice.ice.get_host_addresses = _scoped_get_host_addresses


@contextmanager
def gathering_on(addresses: Sequence[str]) -> Iterator[None]:
    """Within the block (and tasks it starts), aioice gathers host candidates on exactly
    *addresses*. Use it around ``setLocalDescription``, which gathers."""
    install_host_address_hook()
    token = _HOST_ADDRESSES.set(tuple(addresses))
    try:
        yield
    finally:
        _HOST_ADDRESSES.reset(token)


def _checked_request_received(
    connection: aioice.ice.Connection,
    message: aioice.stun.Message,
    addr: tuple[str, int],
    protocol: aioice.ice.StunProtocol,
) -> None:
    networks = _CHECK_NETWORKS.get(connection)
    if networks is not None and not is_allowed_address(addr[0], networks):
        # no response and no peer-reflexive candidate: our checks never go there
        logger.debug("ignored an ICE check from %s outside the allowed networks", addr[0])
        return
    _original_request_received(connection, message, addr, protocol)


def restrict_incoming_checks(
    connection: aioice.ice.Connection, networks: Sequence[IceNetwork]
) -> None:
    """Make *connection* ignore incoming STUN checks whose source address is not allowed
    by *networks* (:func:`is_allowed_address`). aioice answers any authenticated check
    and learns its source as a peer-reflexive candidate (RFC 8445 7.3.1.3), then sends
    triggered checks there: without this a peer (or a forged source address) could aim
    our checks outside the allowed networks. Wraps
    ``aioice.ice.Connection.request_received`` once (idempotent); other connections are
    unaffected."""
    aioice.ice.Connection.request_received = _checked_request_received  # type: ignore[method-assign,assignment]
    _CHECK_NETWORKS[connection] = tuple(networks)
