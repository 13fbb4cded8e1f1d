"""A malicious payee against ``ccnet channel pay`` (the honest payer is the real command
line, one process per command; the payee is :class:`~.adversary.Adversary`, built on
the real ccnet.channels code, serving TCP), on the real runtime (Chopsticks dev chain).

The payee withholds its countersignature, replays an old one, answers with a
signature of a different state (more for itself), withholds again when the payer
re-sends, and finally registers the payer's outstanding proposal, which it co-signed
alone, against the payer's unilateral close. The rule (as in test_channel_attacks.py):
the honest payer ends with at least its balance in its outstanding proposal, never
lower; a new payment is refused (and nothing sent) while one is outstanding; the
adversary ends with exactly the rest; balances exact to the planck with every fee.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ccnet.channels import Countersign, Propose, StreamTransport, serve
from ccnet.channels.testing import Ledger
from ccnet.client import CC, Chain, Keys

from .adversary import Adversary
from .test_channel_attacks import MakeAdversary


async def ccnet(url: str, env: dict[str, str], *args: str) -> tuple[int, Any]:
    """``ccnet --json --url URL ARGS`` in a process of its own: exit code, JSON output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccnet.client",
        "--json",
        "--url",
        url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert out.strip(), err.decode()
    return process.returncode or 0, json.loads(out)


async def test_payee_withholds_replays_and_forges(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Any,
    ledger: Ledger,
    make_adversary: MakeAdversary,
    tmp_path: Path,
) -> None:
    payer = f"//CliPayer{secrets.token_hex(6)}"
    payer_address = Keys.from_uri(payer).ss58_address
    ccnet_chain.transfer(fund_account.funder, payer_address, 100 * CC)
    adversary: Adversary = make_adversary()
    before = {a: ledger.balances(a) for a in (payer_address, adversary.address)}
    env = {
        **os.environ,
        "CCNET_KEYSTORE": str(tmp_path / "keystore"),
        "CCNET_CONFIG": str(tmp_path / "none.toml"),
    }
    store = str(tmp_path / "payer.db")
    mine = ["--key", payer, "--store", store]

    code, opened = await ccnet(devchain, env, "channel", "open", adversary.address, "10", *mine)
    assert code == 0, opened
    cid_hex = opened["params"]["channel_id"]
    cid = bytes.fromhex(cid_hex[2:])
    await adversary.party.join(cid)

    connections: asyncio.Queue[StreamTransport] = asyncio.Queue()
    server = await serve(connections.put)
    peer = ["--peer", f"127.0.0.1:{server.sockets[0].getsockname()[1]}"]

    async def next_connection() -> None:
        adversary.wires[cid] = await asyncio.wait_for(connections.get(), 60)

    try:
        # An honest payment first: version 1, countersigned.
        paying = asyncio.create_task(
            ccnet(devchain, env, "channel", "pay", cid_hex, "1", *mine, *peer)
        )
        await next_connection()
        await adversary.take(cid)
        code, first = await paying
        assert code == 0 and first["version"] == 1 and first["balance_b"] == CC

        # Version 2: a replayed countersign of 1, one of a state with more for the
        # payee, then silence.
        paying = asyncio.create_task(
            ccnet(devchain, env, "channel", "pay", cid_hex, "1", *mine, *peer, "--timeout", "4")
        )
        await next_connection()
        proposal = await adversary.recv(cid)
        assert isinstance(proposal, Propose) and proposal.version == 2
        (replayed,) = [frame for channel, frame in adversary.sent if channel == cid]
        await adversary.wires[cid].send(replayed)
        greedy = replace(proposal.state(), balance_a=0, balance_b=10 * CC)
        await adversary.send(cid, Countersign(cid, 2, adversary._sign(greedy)))
        code, failed = await paying
        assert code == 1, failed
        assert "did not countersign version 2" in failed["error"]["message"]

        # While 2 is outstanding a new payment is refused before anything is sent.
        code, refused = await ccnet(devchain, env, "channel", "pay", cid_hex, "1", *mine, *peer)
        assert code == 1 and "outstanding" in refused["error"]["message"]
        await asyncio.sleep(0.5)
        assert connections.empty()

        # resolve re-sends the same proposal; the payee stays silent.
        resolving = asyncio.create_task(
            ccnet(devchain, env, "channel", "resolve", cid_hex, *mine, *peer, "--timeout", "3")
        )
        await next_connection()
        resent = await adversary.recv(cid)
        assert resent == proposal
        code, unresolved = await resolving
        assert code == 1 and "did not countersign version 2" in unresolved["error"]["message"]
    finally:
        server.close()
        await server.wait_closed()
        for wire in adversary.wires.values():
            await wire.close()

    shown = await ccnet(devchain, env, "channel", "show", cid_hex, *mine, "--no-chain")
    assert shown[1]["latest"]["version"] == 1 and shown[1]["pending_version"] == 2

    # The payer closes with version 1; the payee registers version 2, co-signed alone.
    code, closing = await ccnet(devchain, env, "channel", "close", cid_hex, "--unilateral", *mine)
    assert code == 0 and closing["version"] == 1
    challenged = adversary.challenge(cid, adversary.countersign_alone(proposal))
    assert challenged.expect("Channels", "ChannelChallenged")["version"] == 2
    ccnet_chain.new_blocks(ccnet_chain.channels.challenge_period())
    code, settled = await ccnet(devchain, env, "channel", "settle", cid_hex, *mine)
    assert code == 0 and (settled["balance_a"], settled["balance_b"]) == (8 * CC, 2 * CC)

    assert ccnet_chain.channels.channel(cid) is None  # paid out once
    fees = opened["fee"] + closing["fee"] + settled["fee"]
    free, held = before[payer_address]
    assert ledger.balances(payer_address) == (free - fees - 2 * CC, held)
    free, held = before[adversary.address]
    assert ledger.balances(adversary.address) == (free - adversary.fees + 2 * CC, held)
