"""ccnet.channels.transport: framing over TCP on 127.0.0.1, the size cap, closing, and
two parties paying over a real socket."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from substrateinterface import Keypair

from ccnet.channels import (
    MAX_BODY,
    ChannelParams,
    ChannelParty,
    MemoryTransport,
    OversizeMessageError,
    SqliteChannelStore,
    StreamTransport,
    TransportClosedError,
    connect,
    serve,
)
from ccnet.channels.testing import TEST_GENESIS as GENESIS


@pytest.fixture
async def tcp_pair() -> AsyncIterator[tuple[StreamTransport, StreamTransport]]:
    accepted: asyncio.Queue[StreamTransport] = asyncio.Queue()

    async def on_connect(transport: StreamTransport) -> None:
        await accepted.put(transport)

    server = await serve(on_connect)
    port = server.sockets[0].getsockname()[1]
    client = await connect("127.0.0.1", port)
    remote = await asyncio.wait_for(accepted.get(), 5)
    try:
        yield client, remote
    finally:
        await client.close()
        await remote.close()
        server.close()
        await server.wait_closed()


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


async def test_frames_keep_their_boundaries(
    tcp_pair: tuple[StreamTransport, StreamTransport],
) -> None:
    client, remote = tcp_pair
    frames = [frame(b"{}"), frame(b"x" * MAX_BODY), frame(b'{"a":1}')]
    for data in frames:
        await client.send(data)
    for data in frames:
        assert await asyncio.wait_for(remote.recv(), 5) == data
    assert remote.peername.startswith("127.0.0.1:")


async def test_oversize_frame_is_skipped(
    tcp_pair: tuple[StreamTransport, StreamTransport],
) -> None:
    client, remote = tcp_pair
    await client.send(frame(b"y" * (MAX_BODY + 1)) + frame(b"{}"))
    with pytest.raises(OversizeMessageError):
        await asyncio.wait_for(remote.recv(), 5)
    assert await asyncio.wait_for(remote.recv(), 5) == frame(b"{}")


async def test_close_is_seen_by_the_peer(
    tcp_pair: tuple[StreamTransport, StreamTransport],
) -> None:
    client, remote = tcp_pair
    await client.send(b"\0\0")  # half a header, then EOF
    await client.close()
    with pytest.raises(TransportClosedError):
        await asyncio.wait_for(remote.recv(), 5)
    with pytest.raises(TransportClosedError):
        await client.send(frame(b"{}"))


async def test_connect_refused() -> None:
    server = await serve(lambda t: t.close())
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(TransportClosedError):
        await connect("127.0.0.1", port)


async def test_memory_pair_close_wakes_reader() -> None:
    one, two = MemoryTransport.pair()
    reader = asyncio.create_task(two.recv())
    await asyncio.sleep(0)
    await one.close()
    with pytest.raises(TransportClosedError):
        await reader
    with pytest.raises(TransportClosedError):
        await one.send(b"x")


async def test_parties_over_tcp(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    a = ChannelParty(alice, SqliteChannelStore(tmp_path / "a.db"), genesis_hash=GENESIS)
    b = ChannelParty(bob, SqliteChannelStore(tmp_path / "b.db"), genesis_hash=GENESIS)
    cid = params.channel_id
    a.add_channel(params)
    b.add_channel(params)

    async def on_connect(transport: StreamTransport) -> None:
        await b.attach(cid, transport)

    server = await serve(on_connect)
    await a.attach(cid, await connect("127.0.0.1", server.sockets[0].getsockname()[1]))
    for i in range(50):
        await a.pay(cid, 10 + i)
    assert a.channel(cid).latest == b.channel(cid).latest
    assert a.channel(cid).latest.version == 50
    await a.aclose()
    await b.aclose()
    server.close()
    await server.wait_closed()
