"""Off-chain payment channels: the channel state machine, vouchers and their store."""

import logging

__all__: list[str] = []

logging.getLogger(__name__).addHandler(logging.NullHandler())
