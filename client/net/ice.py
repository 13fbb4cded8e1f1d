"""Which host addresses WebRTC may use: loopback, plus the LAN when allowed.

Host candidates only on loopback and LAN, no STUN/TURN (``iceServers=[]``;
``docs/protocol.md``, section 6). Two gaps in aioice 0.13 are closed here:

- aioice never gathers a loopback candidate (``get_host_addresses`` skips 127.0.0.1)
  and gathers every other interface, public ones included. :func:`gathering_on` scopes
  a replacement address list to the current task through a context variable;
  :func:`install_host_address_hook` wraps ``aioice.ice.get_host_addresses`` once so the
  list applies. Outside a :func:`gathering_on` block aioice behaves as before.
- A peer's SDP may name any address; :func:`is_allowed_address` is the filter applied
  to both our own and the remote candidates (see :mod:`.sdp`), so no ICE check ever
  goes to a public address.

LAN means RFC 1918 IPv4 (10/8, 172.16/12, 192.168/16) and RFC 4193 IPv6 (fc00::/7);
loopback means 127.0.0.0/8 and ::1. Link-local, documentation and public ranges are out.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import aioice.ice
import ifaddr

__all__ = [
    "LAN_NETWORKS",
    "LOOPBACK_HOST",
    "gathering_on",
    "host_addresses",
    "install_host_address_hook",
    "is_allowed_address",
]

LOOPBACK_HOST = "127.0.0.1"
"""The loopback address a host candidate is always gathered on."""

LAN_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)
"""Private (LAN) ranges: RFC 1918 and RFC 4193."""

_HOST_ADDRESSES: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "ccnet_ice_host_addresses", default=None
)
_original_get_host_addresses = aioice.ice.get_host_addresses


def is_allowed_address(host: str, *, allow_lan: bool) -> bool:
    """Whether a candidate address *host* is loopback, or LAN when *allow_lan*.

    Hostnames (mDNS ``*.local`` included) are never allowed."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    return allow_lan and any(
        address in net for net in LAN_NETWORKS if net.version == address.version
    )


def host_addresses(*, allow_lan: bool) -> list[str]:
    """Addresses to gather host candidates on: 127.0.0.1, then (when *allow_lan*) this
    machine's LAN addresses (no IPv6 scope-qualified ones)."""
    addresses = [LOOPBACK_HOST]
    if allow_lan:
        for adapter in ifaddr.get_adapters():
            for ip in adapter.ips:
                host = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
                scoped = not isinstance(ip.ip, str) and ip.ip[2] != 0
                if (
                    not scoped
                    and host not in addresses
                    and is_allowed_address(host, allow_lan=True)
                ):
                    addresses.append(host)
    return addresses


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
