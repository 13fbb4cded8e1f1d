"""Zero-knowledge proofs for task results (Python side; circuits live beside it)."""

import logging

__all__: list[str] = []

logging.getLogger(__name__).addHandler(logging.NullHandler())
