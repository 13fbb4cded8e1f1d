"""The network options both roles share: ``--dht-host``, ``--ice-network``,
``--ice-server``, ``--ice-username``, ``--ice-credential`` (``ccnet worker run`` and
``ccnet job run|workers``), each with its environment variable.

Loopback is the default everywhere; a worker serving other machines and its requesters
list the networks their ICE candidates may use (``docs/protocol.md``, section 6, and
:mod:`ccnet.client.net.ice`). Bad values raise :class:`~ccnet.client.exceptions.UsageError`
before any key, chain or socket is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from ..exceptions import UsageError

if TYPE_CHECKING:
    from ..net.webrtc import PeerConfig

__all__ = [
    "DhtHostOpt",
    "IceCredentialOpt",
    "IceNetworkOpt",
    "IceServerOpt",
    "IceUsernameOpt",
    "check_bind_host",
    "check_signaling_options",
    "peer_config_from_options",
]

DhtHostOpt = Annotated[
    str,
    typer.Option(
        "--dht-host",
        help="Address the DHT node binds (UDP; 0.0.0.0: every interface).",
        envvar="CCNET_DHT_HOST",
    ),
]
IceNetworkOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ice-network",
        help="A network ICE candidates may use, ours and the peer's: a CIDR "
        "(10.201.0.0/24), loopback or lan; repeat for more (default: loopback only). "
        "Candidates outside every one are dropped and logged.",
        envvar="CCNET_ICE_NETWORK",
        show_default=False,
    ),
]
IceServerOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ice-server",
        help="A STUN or TURN server: stun:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp] "
        "or turns:HOST[:PORT]; at most one of each (default: none).",
        envvar="CCNET_ICE_SERVER",
        show_default=False,
    ),
]
IceUsernameOpt = Annotated[
    str | None,
    typer.Option(
        "--ice-username",
        help="Username for the TURN server.",
        envvar="CCNET_ICE_USERNAME",
        show_default=False,
    ),
]
IceCredentialOpt = Annotated[
    str | None,
    typer.Option(
        "--ice-credential",
        help="Credential (password) for the TURN server; prefer $CCNET_ICE_CREDENTIAL.",
        envvar="CCNET_ICE_CREDENTIAL",
        show_default=False,
    ),
]


def check_bind_host(option: str, host: str) -> str:
    """*host* if it is an IP address to bind (``0.0.0.0`` and ``::`` included);
    :class:`UsageError` naming *option* otherwise (a host name would bind whatever it
    resolves to)."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(
            f"{option} {host!r}: give an IP address of this machine (or 0.0.0.0 for every "
            "interface)"
        ) from None
    return host


def check_signaling_options(host: str, url: str | None) -> None:
    """Check ``--signaling-host`` *host* and ``--signaling-url`` *url*: an IP address to
    bind, and a URL peers can reach (needed when *host* binds every interface).
    Raises :class:`UsageError`."""
    from ..net.exceptions import NetConfigError
    from ..net.signaling import check_signaling_url, is_unspecified_host

    check_bind_host("--signaling-host", host)
    if url is not None:
        try:
            check_signaling_url(url)
        except NetConfigError as err:
            raise UsageError(f"--signaling-url: {err}") from None
    elif is_unspecified_host(host):
        raise UsageError(
            f"--signaling-host {host} binds every interface: give --signaling-url, the URL "
            "requesters reach it at"
        )


def peer_config_from_options(
    networks: Sequence[str] | None,
    servers: Sequence[str] | None,
    username: str | None,
    credential: str | None,
) -> PeerConfig:
    """The WebRTC settings of the ICE options (defaults for what is not given).
    Raises :class:`UsageError` for a bad CIDR, server URL or missing credentials."""
    from ..net.exceptions import NetConfigError
    from ..net.ice import DEFAULT_ICE_NETWORKS, parse_ice_networks, parse_ice_servers
    from ..net.webrtc import PeerConfig

    try:
        return PeerConfig(
            ice_networks=parse_ice_networks(networks) if networks else DEFAULT_ICE_NETWORKS,
            ice_servers=parse_ice_servers(
                servers or (), username=username or None, credential=credential or None
            ),
        )
    except NetConfigError as err:
        raise UsageError(str(err)) from None
