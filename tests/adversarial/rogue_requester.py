"""A malicious requester built on the real ccnet code, against a real worker daemon.

It has a funded account, a real :class:`~ccnet.channels.ChannelParty` (its own SQLite
store) for the channels it opens and for the payments it does make, and real WebRTC
sessions (:func:`ccnet.client.net.webrtc.connect`) on which it speaks the job protocol
by hand: it asks for work without a channel or without paying, fires many requests at
once, and calls the chain directly with whatever state suits it (a unilateral close
with version 0 after it paid, which would take every payment back).

Every extrinsic it submits is kept (its party's and its own), so a test can check the
worker's balance, and the attacker's, to the planck.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from ccnet.channels import ChannelParty
from ccnet.channels.testing import Member
from ccnet.client import Chain, Keypair, Receipt
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.messages import (
    JobFailed,
    JobRequest,
    JobResult,
    Message,
    decode,
    decode_heartbeat,
    encode,
)
from ccnet.client.net.webrtc import PeerSession, connect

__all__ = ["RogueRequester"]

REPLY_TIMEOUT = 90.0
"""Seconds it waits for the worker's answer to a job (a liveness bound)."""


class RogueRequester:
    """The attacker: *keypair* is its key; *member* (optional) gives it a funded
    account, a party and a store; *chain* is the chain it cheats on."""

    def __init__(self, keypair: Keypair, chain: Chain, member: Member | None = None) -> None:
        self.keypair = keypair
        self.member = member
        self.chain = chain
        self.sessions: list[PeerSession] = []
        self.receipts: list[Receipt] = []
        """Its own extrinsics (besides its party's)."""

    @property
    def party(self) -> ChannelParty:
        """Its channel party (a funded attacker only)."""
        assert self.member is not None, "this attacker has no account to open channels"
        return self.member.party

    @property
    def address(self) -> str:
        return str(self.keypair.ss58_address)

    @property
    def fees(self) -> int:
        """Every fee it paid, planck."""
        receipts = [*self.party.receipts] if self.member is not None else []
        return sum(r.fee for r in [*receipts, *self.receipts])

    async def connect(self, url: str, worker: str) -> PeerSession:
        """A new authenticated session with *worker* at its signaling *url*."""
        session = await connect(url, self.keypair, worker)
        self.sessions.append(session)
        return session

    async def open_channel(self, worker: str, deposit: int, session: PeerSession) -> bytes:
        """Open a channel to *worker* (it deposits, the worker nothing) and serve it on
        *session*'s ``"channels"`` data channel."""
        channel = await self.party.open(worker, deposit)
        await self.party.attach(channel.channel_id, session.transport("channels"))
        return channel.channel_id

    async def ask(
        self, session: PeerSession, requests: Sequence[JobRequest]
    ) -> dict[bytes, JobResult | JobFailed]:
        """Send every request at once, then collect one answer per job (heartbeats and
        module questions aside: the modules are sent inline)."""
        tasks = session.transport("tasks")
        for request in requests:
            await tasks.send(encode(request))
        answers: dict[bytes, JobResult | JobFailed] = {}
        while len(answers) < len(requests):
            data = await asyncio.wait_for(tasks.recv(), REPLY_TIMEOUT)
            if decode_heartbeat(data) is not None:
                continue
            message: Message = decode(data)
            assert isinstance(message, JobResult | JobFailed), message
            answers[message.job_id] = message
        return answers

    @staticmethod
    def job(module: bytes, *args: str, channel_id: bytes | None, fuel: int) -> JobRequest:
        """A job request (the module inline) at the default rate, 1 planck per fuel."""
        return JobRequest(
            os.urandom(16),
            module_hash=module_hash(module),
            input=b"",
            args=args,
            module=module,
            fuel_limit=fuel,
            channel_id=channel_id,
        )

    def close_with_opening_state(self, channel_id: bytes, deposit: int) -> Receipt:
        """``close_unilateral`` with version 0 (its whole deposit back, unsigned): stale
        as soon as it has paid anything."""
        receipt = self.chain.channels.close_unilateral(self.keypair, channel_id, 0, deposit, 0)
        self.receipts.append(receipt)
        return receipt

    def settle(self, channel_id: bytes) -> Receipt:
        receipt = self.chain.channels.settle(self.keypair, channel_id)
        self.receipts.append(receipt)
        return receipt

    async def close(self) -> None:
        """Close its sessions (its party and store are the fixture's)."""
        for session in self.sessions:
            await session.close()
