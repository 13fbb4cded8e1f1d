"""SDP helpers for signed signaling: the DTLS fingerprint and candidate filtering.

Only the facts signaling needs are read from an SDP (RFC 8866 text):

- ``a=fingerprint:sha-256 AB:CD:...`` (RFC 8122): the certificate digest aiortc
  checks the DTLS peer against. :func:`dtls_fingerprint` returns it normalised as
  ``"sha-256 AB:CD:..."``.
- ``a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ
  <type> ...`` (RFC 8839): :func:`filter_candidates` keeps those whose address passes
  :func:`ccnet.client.net.ice.is_allowed_address` for the allowed networks.
- ``m=application <port> UDP/DTLS/SCTP webrtc-datachannel`` (RFC 8841):
  :func:`has_data_channel`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .exceptions import SignalingError
from .ice import IceNetwork, describe_networks, is_allowed_address

__all__ = ["candidate_addresses", "dtls_fingerprint", "filter_candidates", "has_data_channel"]

logger = logging.getLogger(__name__)

_FINGERPRINT = "a=fingerprint:"
_CANDIDATE = "a=candidate:"


def _lines(sdp: str) -> list[str]:
    """The lines of *sdp*, split at CRLF or LF only (RFC 8866 5).

    aiortc splits with ``str.splitlines``, which also breaks at a lone CR, VT, FF,
    ``\\x1c``-``\\x1e``, NEL, U+2028 and U+2029: a line hiding one of those would read as
    one line here and as two there (a candidate smuggled past :func:`filter_candidates`).
    Raises :class:`SignalingError` (400) for such an SDP."""
    lines = sdp.replace("\r\n", "\n").split("\n")
    for line in lines:
        if line and line.splitlines() != [line]:
            raise SignalingError("the SDP contains a line break other than CRLF or LF", status=400)
    return lines


def dtls_fingerprint(sdp: str) -> str:
    """The SHA-256 DTLS fingerprint of *sdp*, as ``"sha-256 AB:CD:..."`` (uppercase hex).

    Raises :class:`SignalingError` when the SDP has none, or several different ones.
    """
    found = set()
    for line in _lines(sdp):
        if line.startswith(_FINGERPRINT):
            algorithm, _, value = line[len(_FINGERPRINT) :].strip().partition(" ")
            if algorithm.lower() == "sha-256":
                found.add(f"sha-256 {value.strip().upper()}")
    if not found:
        raise SignalingError("the SDP carries no sha-256 DTLS fingerprint")
    if len(found) > 1:
        raise SignalingError("the SDP carries several different sha-256 DTLS fingerprints")
    return found.pop()


def has_data_channel(sdp: str) -> bool:
    """Whether *sdp* has a data-channel media section (``m=application ...
    webrtc-datachannel``, RFC 8841)."""
    return any(
        line.startswith("m=application ") and line.rstrip().endswith("webrtc-datachannel")
        for line in _lines(sdp)
    )


def candidate_addresses(sdp: str) -> list[str]:
    """The connection addresses of the ``a=candidate`` lines of *sdp*, in order."""
    addresses = []
    for line in _lines(sdp):
        if line.startswith(_CANDIDATE):
            fields = line[len(_CANDIDATE) :].split()
            if len(fields) >= 6:
                addresses.append(fields[4])
    return addresses


def filter_candidates(
    sdp: str, networks: Sequence[IceNetwork], *, whose: str = "the peer's"
) -> str:
    """*sdp* without the ``a=candidate`` lines whose address is not allowed by
    *networks* (:func:`ccnet.client.net.ice.is_allowed_address`); malformed candidate
    lines are dropped too. Each dropped candidate is logged (a warning naming *whose*
    SDP it was in), never used. Line endings are CRLF, as SDP requires, so aiortc reads
    exactly the lines kept here.

    Raises :class:`SignalingError` (400) when *sdp* breaks lines with anything but CRLF
    or LF (see :func:`_lines`)."""
    kept = []
    dropped = []
    for line in _lines(sdp):
        if line.startswith(_CANDIDATE):
            fields = line[len(_CANDIDATE) :].split()
            if len(fields) < 6 or not is_allowed_address(fields[4], networks):
                dropped.append(fields[4] if len(fields) >= 6 else "(malformed)")
                continue
        kept.append(line)
    if dropped:
        logger.warning(
            "dropped %d ICE candidate(s) of %s SDP outside the allowed networks (%s): %s",
            len(dropped),
            whose,
            describe_networks(networks),
            ", ".join(_printable(address) for address in dropped[:16]),
        )
    while kept and kept[-1] == "":
        kept.pop()
    return "\r\n".join(kept) + "\r\n"


def _printable(address: str) -> str:
    """A peer's candidate address as a log may show it (at most 64 plain characters)."""
    return repr(address[:64]) if not address.isprintable() else address[:64]
