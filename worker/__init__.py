"""The worker daemon (``ccnet worker run``) and nothing else: its settings
(:mod:`.config`), the daemon itself (:mod:`.daemon`), the Wasm sandbox (:mod:`.sandbox`,
:mod:`.modules`), serving jobs (:mod:`.executor`, :mod:`.jobhandler`, :mod:`.payments`,
:mod:`.admission`, :mod:`.proofs`), defending its channels (:mod:`.channelwatch`), its
on-chain duties (:mod:`.onchain`), the self-benchmark
(:mod:`.benchmark`), fault injection for demos and tests (:mod:`.faults`) and its errors
(:mod:`.exceptions`). The job sources are in ``worker/jobs``.

What both roles share (the network stack, the job protocol) is :mod:`ccnet.client`; the
wire protocol is ``docs/protocol.md``.
"""

import logging

__all__: list[str] = []

logging.getLogger(__name__).addHandler(logging.NullHandler())
