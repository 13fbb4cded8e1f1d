"""VM checkpoints: suspend a running Wasm job at a safe point, save it as an image, seal
it for public storage, and resume it exactly, on this worker or another.

- :mod:`.image`: the :class:`VmImage` and its versioned byte format.
- :mod:`.seal`: AES-256-GCM sealing under the requester's key.
- :mod:`.host`: the safe-point host the sandbox runs (Binaryen Asyncify).
- :mod:`.archive`: sealed images on Arweave, recorded on chain (imports
  :mod:`ccnet.storage`, so it is not imported here).

The sandbox's :meth:`~ccnet.worker.sandbox.Sandbox.run_checkpointed` takes and resumes
them. Format, job ABI and privacy model: ``docs/vm-checkpoints.md``.
"""

from .host import ENGINE, CheckpointPolicy, is_checkpointable
from .image import ABI_VERSION, FORMAT_VERSION, VmImage, decode, encode
from .seal import new_key, seal, unseal

__all__ = [
    "ABI_VERSION",
    "ENGINE",
    "FORMAT_VERSION",
    "CheckpointPolicy",
    "VmImage",
    "decode",
    "encode",
    "is_checkpointable",
    "new_key",
    "seal",
    "unseal",
]
