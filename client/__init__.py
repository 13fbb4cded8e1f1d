"""Client SDK and command line for the ccnet chain."""

import logging
from importlib import metadata as _metadata

from .devchain import DevChain, DevChainInfo
from .exceptions import CcnetError, DevChainError, SpecNotFoundError

try:
    __version__ = _metadata.version("compute-currency")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0+unknown"

__all__ = [
    "CcnetError",
    "DevChain",
    "DevChainError",
    "DevChainInfo",
    "SpecNotFoundError",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
