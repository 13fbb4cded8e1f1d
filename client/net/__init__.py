"""The network stack every participant runs: WebRTC peer sessions, signed signaling,
data-channel transports with framing, and the Kademlia DHT of capability records.

Both roles use it: a worker listens (:class:`~ccnet.client.net.webrtc.PeerListener`)
and announces itself (:class:`~ccnet.client.net.dht.CapabilityDirectory`); a requester
looks workers up and connects (:func:`~ccnet.client.net.webrtc.connect`). The wire
formats are specified in ``docs/protocol.md``.

- :mod:`.signaling`: signed offers and answers, the HTTP signaling endpoint;
- :mod:`.sdp`, :mod:`.ice`: SDP fingerprints, the allowed ICE networks (loopback by
  default) and STUN/TURN servers;
- :mod:`.webrtc`: peer sessions and their data channels;
- :mod:`.framing`, :mod:`.datachannel`: length-prefixed messages over a data channel;
- :mod:`.records`, :mod:`.dht`: signed capability records in a Kademlia DHT;
- :mod:`.background`: logged background tasks;
- :mod:`.exceptions`: :class:`~ccnet.client.net.exceptions.NetError` and its subclasses.
"""

import logging

__all__: list[str] = []

logging.getLogger(__name__).addHandler(logging.NullHandler())
