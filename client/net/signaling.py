"""Signed WebRTC signaling: offer and answer messages, their checks, the HTTP endpoint.

The offer and the answer are each signed by the party's on-chain sr25519 key and carry
its DTLS fingerprint, so the data channels are bound to the on-chain identities (aiortc
refuses a DTLS peer whose certificate does not match the signed SDP's fingerprint). The
message, its signed bytes, the checks and their HTTP statuses are ``docs/protocol.md``,
section 5: :class:`SignalMessage` is the message, :func:`check_signal` the checks (in
the document's order, with :class:`ReplayGuard` last), :class:`SignalingServer` the
worker's ``POST /offer`` endpoint (127.0.0.1 unless told otherwise; when it binds
another address, or every one, :func:`check_signaling_url` vets the URL it advertises)
and :func:`post_offer` the requester's side.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from substrateinterface import Keypair

from .. import signing
from ..clock import now_ms
from ..codec import PROTOCOL_VERSION, U64_MAX, uint_from_json, uint_to_json
from ..exceptions import MalformedMessageError
from .exceptions import NetConfigError, SignalingError, SignalingRefusedError
from .sdp import dtls_fingerprint

__all__ = [
    "MAX_SDP_BYTES",
    "MAX_SIGNAL_AGE_MS",
    "SIGNAL_DOMAIN",
    "ReplayGuard",
    "SignalMessage",
    "SignalingServer",
    "check_signal",
    "check_signaling_url",
    "is_unspecified_host",
    "post_offer",
]

logger = logging.getLogger(__name__)

SIGNAL_DOMAIN = signing.SIGNAL_DOMAIN
"""Domain tag of offer and answer signatures."""

MAX_SIGNAL_AGE_MS = 60 * 1000
"""How far (ms) a message's timestamp may be from the checker's clock: 60 s."""

MAX_SDP_BYTES = 64 * 1024
"""Largest SDP accepted (bytes)."""

MAX_BODY_BYTES = 128 * 1024
"""Largest request or response body of the endpoint (bytes)."""

MAX_LABELS = 8
"""Most data channels one session may open."""

MAX_URL_LENGTH = 256
"""Longest signaling URL (characters): what a capability record carries
(:data:`ccnet.client.net.records.MAX_ENDPOINT_LENGTH`)."""

Kind = Literal["offer", "answer"]

_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_NONCE = re.compile(r"[0-9a-f]{32}")
_FIELDS = (
    "fingerprint",
    "kind",
    "labels",
    "nonce",
    "peer",
    "reply_to",
    "sdp",
    "signer",
    "timestamp_ms",
    "v",
)


def _utf8_size(text: object) -> int | None:
    """Bytes of *text* in UTF-8; None when it is not a string or not UTF-8 text (JSON
    lets a peer send a lone surrogate, ``"\\ud800"``)."""
    if not isinstance(text, str):
        return None
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        return None


def _malformed(reason: str) -> SignalingError:
    return SignalingError(f"malformed signaling message: {reason}", status=400)


@dataclass(frozen=True, slots=True)
class SignalMessage:
    """A signed offer or answer (see the module doc for fields and units)."""

    kind: Kind
    sdp: str
    fingerprint: str
    signer: str
    peer: str
    timestamp_ms: int
    nonce: str
    labels: tuple[str, ...]
    reply_to: str
    signature: str = field(repr=False)

    def fields(self) -> dict[str, object]:
        """The signed fields (everything but the signature) in their wire form: ``v``
        (:data:`~ccnet.client.codec.PROTOCOL_VERSION`), ``labels`` a list,
        ``timestamp_ms`` a decimal string."""
        wire: dict[str, object] = {name: getattr(self, name) for name in _FIELDS if name != "v"}
        wire["labels"] = list(self.labels)
        wire["timestamp_ms"] = uint_to_json(self.timestamp_ms)
        wire["v"] = PROTOCOL_VERSION
        return wire

    def to_json(self) -> dict[str, object]:
        """The message as a JSON object."""
        return {**self.fields(), "signature": self.signature}

    @classmethod
    def create(
        cls,
        keypair: Keypair,
        kind: Kind,
        sdp: str,
        *,
        peer: str,
        labels: Sequence[str],
        reply_to: str = "",
        timestamp_ms: int | None = None,
        nonce: str | None = None,
    ) -> SignalMessage:
        """Sign a message from *keypair* to *peer* carrying *sdp* and its fingerprint.
        Raises :class:`SignalingError` if the SDP has no sha-256 fingerprint."""
        unsigned = cls(
            kind=kind,
            sdp=sdp,
            fingerprint=dtls_fingerprint(sdp),
            signer=str(keypair.ss58_address),
            peer=peer,
            timestamp_ms=now_ms() if timestamp_ms is None else timestamp_ms,
            nonce=secrets.token_hex(16) if nonce is None else nonce,
            labels=tuple(labels),
            reply_to=reply_to,
            signature="",
        )
        unsigned._check_shape()
        signature = signing.sign_fields(keypair, SIGNAL_DOMAIN, unsigned.fields())
        return replace(unsigned, signature=signature)

    @classmethod
    def from_json(cls, obj: object) -> SignalMessage:
        """Parse a JSON object (shape only: :func:`check_signal` checks the rest).
        Raises :class:`SignalingError` (status 400) when malformed."""
        if not isinstance(obj, Mapping):
            raise _malformed("a signaling message is a JSON object")
        if obj.get("v") != PROTOCOL_VERSION:
            raise _malformed(
                f"protocol version {obj.get('v', 1)!r} is not spoken here: this peer speaks "
                f"version {PROTOCOL_VERSION} (u64 values as decimal strings, docs/protocol.md)"
            )
        if set(obj) != {*_FIELDS, "signature"}:
            raise _malformed(f"expected exactly the fields {sorted((*_FIELDS, 'signature'))}")
        try:
            timestamp_ms = uint_from_json(obj["timestamp_ms"], U64_MAX, "timestamp_ms")
        except MalformedMessageError as err:
            raise _malformed(str(err)) from None
        labels = obj["labels"]
        if not isinstance(labels, list):
            raise _malformed("labels must be a list")
        message = cls(
            kind=obj["kind"],
            sdp=obj["sdp"],
            fingerprint=obj["fingerprint"],
            signer=obj["signer"],
            peer=obj["peer"],
            timestamp_ms=timestamp_ms,
            nonce=obj["nonce"],
            labels=tuple(labels),
            reply_to=obj["reply_to"],
            signature=obj["signature"],
        )
        message._check_shape()
        if not isinstance(message.signature, str):
            raise _malformed("signature must be a string")
        return message

    @classmethod
    def decode(cls, body: bytes) -> SignalMessage:
        """Parse the JSON *body* of an offer or answer as it came over HTTP (shape
        only, as :meth:`from_json`). Raises :class:`SignalingError` (status 400) when it
        is not UTF-8 JSON or is malformed."""
        try:
            obj = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):  # bad UTF-8 or JSON, a 5,000-digit number
            raise _malformed("the body is not JSON") from None
        return cls.from_json(obj)

    def _check_shape(self) -> None:
        if self.kind not in ("offer", "answer"):
            raise _malformed(f"kind must be offer or answer, not {self.kind!r}")
        size = _utf8_size(self.sdp)
        if size is None or size > MAX_SDP_BYTES:
            raise _malformed(f"sdp must be UTF-8 text of at most {MAX_SDP_BYTES} bytes")
        if not isinstance(self.fingerprint, str):
            raise _malformed("fingerprint must be a string")
        for name in ("signer", "peer"):
            if not signing.is_address(getattr(self, name)):
                raise _malformed(f"{name} must be an SS58 address (prefix 42)")
        if type(self.timestamp_ms) is not int or self.timestamp_ms < 0:
            raise _malformed("timestamp_ms must be a non-negative integer")
        if not isinstance(self.nonce, str) or not _NONCE.fullmatch(self.nonce):
            raise _malformed("nonce must be 32 lowercase hex digits")
        if not all(isinstance(label, str) and _LABEL.fullmatch(label) for label in self.labels):
            raise _malformed("a label is 1-32 chars of a-z 0-9 _ - starting with a letter or digit")
        if (
            not self.labels
            or len(self.labels) > MAX_LABELS
            or len(set(self.labels)) != len(self.labels)
        ):
            raise _malformed(f"labels must be 1 to {MAX_LABELS} distinct names")
        if not isinstance(self.reply_to, str) or (
            (self.kind == "offer" and self.reply_to != "")
            or (self.kind == "answer" and not _NONCE.fullmatch(self.reply_to))
        ):
            raise _malformed("reply_to is empty in an offer and the offer's nonce in an answer")


class ReplayGuard:
    """Remembers (signer, nonce) pairs for the freshness window, so each signed message
    is accepted once. Holds at most *capacity* pairs; when full (after forgetting expired
    ones) it refuses new messages (status 503) rather than forget a live nonce."""

    def __init__(self, *, window_ms: int = MAX_SIGNAL_AGE_MS, capacity: int = 100_000) -> None:
        self.window_ms = window_ms
        self.capacity = capacity
        self._seen: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def remember(self, signer: str, nonce: str, timestamp_ms: int, *, now: int) -> None:
        """Record the pair; raises :class:`SignalingError` (401) if it was seen."""
        if (signer, nonce) in self._seen:
            raise SignalingError(
                f"replayed signaling message (nonce {nonce} of {signer})", status=401
            )
        if len(self._seen) >= self.capacity:
            self._seen = {k: exp for k, exp in self._seen.items() if exp >= now}
            if len(self._seen) >= self.capacity:
                raise SignalingError(
                    "too many signaling messages in flight; retry later", status=503
                )
        self._seen[(signer, nonce)] = timestamp_ms + 2 * self.window_ms


def check_signal(
    message: SignalMessage,
    *,
    kind: Kind,
    me: str,
    expected_signer: str | None = None,
    reply_to: str | None = None,
    guard: ReplayGuard | None = None,
    now: int | None = None,
    max_age_ms: int = MAX_SIGNAL_AGE_MS,
) -> None:
    """Check *message* as received by *me* (SS58); see the module doc for the checks.

    Raises :class:`SignalingError` with status 400 (wrong kind or fingerprint), 401
    (signature, age, replay) or 403 (addressed to someone else, unexpected signer).
    """
    now = now_ms() if now is None else now
    if message.kind != kind:
        raise SignalingError(f"expected an {kind}, got an {message.kind}", status=400)
    if not signing.verify_fields(
        message.signer, SIGNAL_DOMAIN, message.fields(), message.signature
    ):
        raise SignalingError(f"the {kind} is not signed by its signer {message.signer}", status=401)
    age = now - message.timestamp_ms
    if abs(age) > max_age_ms:
        raise SignalingError(
            f"the {kind} is {'stale' if age > 0 else 'from the future'} "
            f"({age} ms off, limit {max_age_ms} ms)",
            status=401,
        )
    if message.peer != me:
        raise SignalingError(f"the {kind} is addressed to {message.peer}, not to {me}", status=403)
    if expected_signer is not None and message.signer != expected_signer:
        raise SignalingError(
            f"the {kind} is signed by {message.signer}, expected {expected_signer}", status=403
        )
    if dtls_fingerprint(message.sdp) != message.fingerprint:
        raise SignalingError(f"the {kind}'s fingerprint does not match its SDP", status=400)
    if reply_to is not None and message.reply_to != reply_to:
        raise SignalingError(f"the {kind} answers another offer ({message.reply_to})", status=400)
    if guard is not None:
        guard.remember(message.signer, message.nonce, message.timestamp_ms, now=now)


async def post_offer(
    url: str,
    offer: SignalMessage,
    *,
    timeout: float = 10.0,
    session: aiohttp.ClientSession | None = None,
) -> SignalMessage:
    """POST *offer* to the signaling endpoint *url*; return the (unchecked) answer.

    Raises :class:`SignalingRefusedError` for an error status and :class:`SignalingError`
    when the endpoint is unreachable, slow (*timeout* s) or answers garbage.
    """
    own = session is None
    client = aiohttp.ClientSession() if session is None else session
    try:
        async with client.post(
            url, json=offer.to_json(), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            body = await response.content.read(MAX_BODY_BYTES + 1)
            if len(body) > MAX_BODY_BYTES:
                raise SignalingError(
                    f"signaling endpoint {url} answered more than {MAX_BODY_BYTES} bytes"
                )
            if response.status != 200:
                try:
                    obj = json.loads(body)
                except (ValueError, RecursionError):
                    obj = None
                reason = obj.get("error") if isinstance(obj, dict) else None
                raise SignalingRefusedError(url, response.status, str(reason or response.reason))
            return SignalMessage.decode(body)
    except (aiohttp.ClientError, TimeoutError) as err:
        raise SignalingError(
            f"cannot reach signaling endpoint {url}: {type(err).__name__} {err}".rstrip()
        ) from err
    finally:
        if own:
            await client.close()


def is_unspecified_host(host: str) -> bool:
    """Whether binding *host* means every interface (``0.0.0.0``, ``::``, empty)."""
    if not host:
        return True
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def check_signaling_url(url: str) -> str:
    """*url* if it can be advertised as a signaling endpoint (on chain and in the DHT):
    ``http://`` or ``https://``, a host that is not unspecified (``0.0.0.0``), an
    optional port 1-65535, a path, no user info, query or fragment, printable ASCII of at
    most :data:`MAX_URL_LENGTH` characters. Raises :class:`NetConfigError` naming the
    problem."""
    if not isinstance(url, str) or not url.isascii() or not url.isprintable() or " " in url:
        raise NetConfigError(f"not a signaling URL: {url!r} (printable ASCII, no spaces)")
    if len(url) > MAX_URL_LENGTH:
        raise NetConfigError(f"the signaling URL is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise NetConfigError(f"not a signaling URL: {url!r} (bad port)") from None
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "the scheme must be http or https"
    elif not parts.hostname:
        problem = "it names no host"
    elif is_unspecified_host(parts.hostname):
        problem = f"{parts.hostname} is not an address a peer can reach"
    elif parts.username is not None or parts.password is not None:
        problem = "it must not carry user info"
    elif parts.query or parts.fragment:
        problem = "it must not carry a query or fragment"
    elif not parts.path.startswith("/"):
        problem = "it needs a path, such as /offer"
    elif port == 0:
        problem = "port 0 cannot be reached"
    if problem is not None:
        raise NetConfigError(f"not a signaling URL: {url!r} ({problem})")
    return url


Answerer = Callable[[SignalMessage], Awaitable[SignalMessage]]
"""Turns a parsed offer into a signed answer, or raises :class:`SignalingError`."""


class SignalingServer:
    """The aiohttp signaling endpoint: ``POST {path}`` offer JSON -> answer JSON.

    *answerer* checks the offer and produces the answer (see
    :class:`ccnet.client.net.webrtc.PeerListener`). Binds *host* (127.0.0.1; ``0.0.0.0``
    or ``::``: every interface) on *port* (0: a free one). *public_url* is the URL peers
    reach it at when that is not ``http://host:port/path`` (NAT, a proxy, binding every
    interface, which requires it); it is checked with :func:`check_signaling_url`.
    Raises :class:`NetConfigError` for a bad *public_url* or a missing one.
    """

    def __init__(
        self,
        answerer: Answerer,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/offer",
        public_url: str | None = None,
    ) -> None:
        if public_url is not None:
            check_signaling_url(public_url)
        elif is_unspecified_host(host):
            raise NetConfigError(
                f"the signaling endpoint binds every interface ({host or 'all'}): give the "
                "URL peers reach it at (e.g. http://203.0.113.7:8443/offer)"
            )
        self.public_url = public_url
        self._answerer = answerer
        self.host = host
        self.port = port
        self.path = path
        self._runner: web.AppRunner | None = None
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(path, self._handle)
        self._app = app

    @property
    def url(self) -> str:
        """The URL to advertise: *public_url* when given, else ``http://host:port/offer``
        (the port is known after :meth:`start`)."""
        if self.public_url is not None:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    async def start(self) -> None:
        """Start listening. Raises OSError when the port is taken."""
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        if self.port == 0:
            self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def close(self) -> None:
        """Stop listening and finish open requests."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            offer = SignalMessage.decode(await request.read())
            answer = await self._answerer(offer)
        except SignalingError as err:
            logger.info("refused an offer from %s: %s", request.remote, err)
            return web.json_response({"error": str(err)}, status=err.status)
        except web.HTTPException:
            raise
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("signaling endpoint failed on an offer from %s", request.remote)
            return web.json_response({"error": "internal error"}, status=500)
        return web.json_response(answer.to_json())
