"""Checkpoint storage: state snapshots and their Arweave references."""

import logging

__all__: list[str] = []

logging.getLogger(__name__).addHandler(logging.NullHandler())
