"""VM checkpoint images on Arweave, recorded on chain: sealed, stored with
:class:`~ccnet.storage.CheckpointStore` (upload, verified re-fetch, then the Checkpoints
pallet's record), and fetched back and opened by a worker that resumes the job.

Only the sealed bytes are public. Their Arweave tags say what they are and which job
(``Type: vm-checkpoint``, ``Job-Id``, ``Checkpoint``: the image's sequence number within
the job, ``Format``), nothing about the job's state. ``docs/vm-checkpoints.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ccnet.storage import Checkpoint, CheckpointStore, SavedCheckpoint

from ..exceptions import CheckpointFormatError
from .image import FORMAT_VERSION, VmImage, decode, encode
from .seal import seal, unseal

if TYPE_CHECKING:
    from ccnet.client import CheckpointRecord

__all__ = ["ARWEAVE_TYPE", "archive", "retrieve"]

ARWEAVE_TYPE = "vm-checkpoint"
"""The ``Type`` tag of a sealed VM checkpoint on Arweave."""


def archive(
    store: CheckpointStore,
    image: VmImage,
    key: bytes,
    job_id: str,
    *,
    before_record: Callable[[], None] | None = None,
) -> SavedCheckpoint:
    """Seal *image* under *key* (32 bytes) and save it with *store*: on Arweave, then
    recorded on chain for the store's owner as the newest image of its job *job_id*
    (bare hex of the 16-byte id: ``record_job`` with the image's sequence number,
    :attr:`VmImage.checkpoints`, which goes up by one with every image a run takes, its
    suspension's included, and continues the resumed image's). Raises what
    :meth:`CheckpointStore.save` raises (e.g. ``StaleCheckpoint`` when the job already
    has a record at or after that number, ``ValueError`` for a *job_id* that is not 16
    bytes of hex); a failure leaves the previous record valid."""
    job = bytes.fromhex(job_id)
    if len(job) != 16:
        raise ValueError(f"a job id is 16 bytes, not {len(job)}")
    sealed = seal(encode(image), key)
    metadata = {
        "Type": ARWEAVE_TYPE,
        "Job-Id": job_id,
        "Checkpoint": str(image.checkpoints),
        "Format": str(FORMAT_VERSION),
    }
    return store.save(
        Checkpoint(sealed, metadata), job=(job, image.checkpoints), before_record=before_record
    )


def retrieve(
    store: CheckpointStore, record: CheckpointRecord, key: bytes, *, max_bytes: int
) -> VmImage:
    """The image of *record*: fetched (local cache, else the gateway; size and hash
    checked against the record), opened under *key* and decoded. *max_bytes* bounds the
    sealed size (e.g. the worker's memory cap plus a little), checked before fetching.
    Raises what :meth:`CheckpointStore.fetch` raises,
    :class:`~ccnet.worker.exceptions.CheckpointKeyError` and
    :class:`~ccnet.worker.exceptions.CheckpointFormatError`."""
    if record.size > max_bytes:
        raise CheckpointFormatError(
            f"the recorded checkpoint is {record.size} bytes, above the {max_bytes} taken here"
        )
    return decode(unseal(store.fetch(record), key))
