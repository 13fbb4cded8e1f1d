"""The daemon's VM checkpoints on the job protocol: archive a running job's images, and
open the image a ``resume`` request names (``docs/vm-checkpoints.md``, section 8;
``docs/protocol.md``, section 8).

:class:`CheckpointService` wraps the worker's
:class:`~ccnet.storage.CheckpointStore` (its Arweave gateway and wallet, its chain key
for the records, a local cache). Blocking: the job handler calls it from the job's
thread (archiving, from the policy's ``on_image``) or through ``asyncio.to_thread``
(opening).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.messages import ResumeSpec
from ccnet.client.jobs.results import input_hash
from ccnet.client.pallets.checkpoints import CheckpointRecord
from ccnet.client.requester.exceptions import ImageUnavailableError
from ccnet.client.requester.migration import ImageFacts
from ccnet.storage import CheckpointStore, SavedCheckpoint
from ccnet.storage.exceptions import (
    GatewayRejectedError,
    GatewayUnavailableError,
    IntegrityError,
)

from .exceptions import CheckpointMismatchError, WorkerBusyError
from .sandbox import RunOutcome, check_image
from .vmcheckpoint import CheckpointPolicy, VmImage
from .vmcheckpoint.archive import archive, retrieve

if TYPE_CHECKING:
    from ccnet.client.requester.migration import Announced, CheckpointedJob

    from .sandbox import Sandbox

__all__ = ["IMAGE_OVERHEAD_BYTES", "CheckpointService", "ImageOpener", "LocalRerun"]

log = logging.getLogger(__name__)

IMAGE_OVERHEAD_BYTES = 1 << 20
"""What a sealed image may hold beyond the job's memory and output, bytes (its header,
globals, page indexes, seal): bounds the size of an image a worker fetches."""


class CheckpointService:
    """Archives and opens VM checkpoint images for the job handler.

    *store* saves the images (on Arweave, recorded on chain for the worker's account)
    and fetches other workers' ones; *max_image_bytes* is the largest sealed image
    opened (the worker's memory cap plus its output caps plus
    :data:`IMAGE_OVERHEAD_BYTES`: a larger one could not be resumed here anyway).
    """

    def __init__(self, store: CheckpointStore, *, max_image_bytes: int) -> None:
        self.store = store
        self.max_image_bytes = max_image_bytes

    @property
    def owner(self) -> str:
        """The SS58 address the worker's images are recorded for."""
        return self.store.owner

    def archive(
        self,
        image: VmImage,
        key: bytes,
        job_id: bytes,
        *,
        before_record: Callable[[], None] | None = None,
    ) -> SavedCheckpoint:
        """Seal *image* under *key* (32 bytes), upload it and record it on chain; the
        record (state hash, Arweave tx id, size in bytes). Raises what
        :meth:`CheckpointStore.save <ccnet.storage.CheckpointStore.save>` raises (the
        previous record stays valid)."""
        return archive(self.store, image, key, job_id.hex(), before_record=before_record)

    def check_unrecorded(self, job_id: bytes) -> None:
        """Raise :class:`~ccnet.worker.exceptions.CheckpointMismatchError` (``malformed``
        on the wire) if this worker already recorded checkpoints of the job *job_id*
        (16 bytes). A job's record keeps its newest image only, so a second run under
        the same id (another requester's, who picked it) would overwrite the first
        job's record and strand its resume: the ids of checkpointed jobs are single-use
        per worker. Raises what the chain query raises."""
        if self.store.job_record(self.owner, job_id) is not None:
            raise CheckpointMismatchError(
                f"this worker already recorded checkpoints of job {job_id.hex()}: "
                "a job with checkpoints needs a job id of its own"
            )

    def open(self, resume: ResumeSpec) -> VmImage:
        """The image *resume* names: the record its owner keeps on chain for the job
        ``resume.job_id`` (``job_record``: that job's newest image only), which must be
        exactly image ``resume.checkpoint`` with its Arweave tx id, state hash and size;
        fetched, checked against that record, opened under its key and decoded. An
        image the owner has since replaced by a newer one of that job is not opened.

        Raises :class:`~ccnet.worker.exceptions.CheckpointMismatchError` (no such
        record, a record of another image, or bytes that do not match it),
        :class:`~ccnet.worker.exceptions.CheckpointFormatError` (over
        :attr:`max_image_bytes`, not an image),
        :class:`~ccnet.worker.exceptions.CheckpointKeyError` (wrong key, tampered),
        all ``malformed`` on the wire; :class:`WorkerBusyError` when the gateway cannot
        be reached (``busy``: not the requester's fault, nor a verdict on the image).
        """
        record = self.record_of(resume)
        try:
            return retrieve(self.store, record, resume.key, max_bytes=self.max_image_bytes)
        except IntegrityError as err:
            raise CheckpointMismatchError(f"the stored checkpoint does not match: {err}") from None
        except GatewayRejectedError as err:  # 404 and other 4xx: the record names nothing
            raise CheckpointMismatchError(f"the gateway has no such checkpoint: {err}") from None
        except GatewayUnavailableError as err:
            raise WorkerBusyError(f"cannot fetch the checkpoint now: {err}") from None

    def record_of(self, resume: ResumeSpec) -> CheckpointRecord:
        """The chain's record of the image *resume* names: its owner's record of the job
        ``resume.job_id``, when it is image ``resume.checkpoint`` with exactly the
        resume's Arweave tx id, state hash and size. Raises
        :class:`~ccnet.worker.exceptions.CheckpointMismatchError` otherwise (no record,
        or one of another image: an older announcement the owner has since replaced), and
        what reading the chain raises."""
        found = self.store.job_record(resume.owner, resume.job_id)
        wanted_hash = "0x" + resume.state_hash.hex()
        named = (
            f"checkpoint {resume.checkpoint} of job {resume.job_id.hex()} "
            f"(Arweave tx {resume.arweave_tx_id}, state hash {wanted_hash}, "
            f"size {resume.size})"
        )
        if found is None:
            raise CheckpointMismatchError(
                f"{resume.owner} has no checkpoint on chain for job {resume.job_id.hex()}, "
                f"so not {named}"
            )
        record = found.record
        if (
            found.checkpoint != resume.checkpoint
            or record.arweave_tx_id != resume.arweave_tx_id
            or record.state_hash.lower() != wanted_hash
            or record.size != resume.size
        ):
            raise CheckpointMismatchError(
                f"{resume.owner}'s record of job {resume.job_id.hex()} is checkpoint "
                f"{found.checkpoint} (Arweave tx {record.arweave_tx_id}, state hash "
                f"{record.state_hash}, size {record.size}), not {named}"
            )
        return record


class ImageOpener:
    """Opens the checkpoints announced for *job* on the requester's side, at settlement
    (``docs/vm-checkpoints.md`` 8.1, rule 10): the image an
    :class:`~ccnet.client.requester.migration.Announced` names is fetched by its
    announcement (Arweave tx id, checked against its state hash and size, at most
    *max_image_bytes* bytes, through *store*'s cache and gateway), opened under the
    job's key, and checked to be this job's (module, input, seed, engine: what a
    resuming worker checks). Not by its owner's record on chain: the worker that
    resumed it checked that record then, and the owner may since have recorded a newer
    image of its job (it was given up while alive, or on purpose, to make the image it
    announced unreadable); the bytes stay on Arweave.

    :meth:`open` raises :class:`~ccnet.worker.exceptions.CheckpointMismatchError` (bytes
    that are not the announced ones, or another job's image), what
    :func:`~ccnet.worker.vmcheckpoint.archive.retrieve` raises (wrong key, tampered,
    not an image), and :class:`~ccnet.client.requester.ImageUnavailableError` when the
    gateway cannot be reached or has nothing under the tx id now (no verdict)."""

    def __init__(
        self, job: CheckpointedJob, store: CheckpointStore, *, max_image_bytes: int = 1 << 30
    ) -> None:
        self.job = job
        self.store = store
        self.max_image_bytes = max_image_bytes

    def open(self, at: Announced) -> VmImage:
        """The image *at* names, decoded and checked (blocking: the fetch and the
        decryption)."""
        note = at.checkpoint
        named = CheckpointRecord(
            owner=at.worker,
            state_hash="0x" + note.state_hash.hex(),
            arweave_tx_id=note.arweave_tx_id,
            size=note.size,
            block=0,
        )
        try:
            image = retrieve(self.store, named, self.job.key, max_bytes=self.max_image_bytes)
        except IntegrityError as err:
            raise CheckpointMismatchError(f"the stored checkpoint does not match: {err}") from None
        except (GatewayRejectedError, GatewayUnavailableError) as err:
            # No verdict on the image: its bytes were fetched when it was resumed, and a
            # 404 or a pending answer now is the gateway's (not seeded yet, another
            # gateway than the worker's); only what the bytes say is a verdict.
            raise ImageUnavailableError(f"cannot fetch the checkpoint now: {err}") from None
        base = self.job.base
        check_image(
            image,
            module_hash(self.job.module),
            input_hash(list(base.args), base.input),
            base.seed,
            len(base.input),
            engine=False,  # what it says is read, not run: another engine's is fine
        )
        return image

    async def facts(self, at: Announced) -> ImageFacts:
        """What the image *at* names says of itself (an
        :data:`~ccnet.client.requester.migration.OpenImage`): its sequence number and
        the job's cumulative fuel up to it. Raises as :meth:`open`."""
        image = await asyncio.to_thread(self.open, at)
        return ImageFacts(checkpoint=image.checkpoints, fuel_used=image.fuel_used)


class LocalRerun:
    """A :data:`~ccnet.client.requester.migration.Rerun` on this machine: the fuel of an
    uninterrupted run of *job* (module, args, input, seed), without checkpoints, from an
    announced checkpoint or from the start (``None``) to its end, in *sandbox*, fuel.

    The image is opened by an :class:`ImageOpener` (:attr:`images`, whose
    :meth:`~ImageOpener.facts` is also an
    :data:`~ccnet.client.requester.migration.OpenImage`); the sandbox refuses an image
    of another job. Re-execution is deterministic, so the difference of two re-runs is
    the fuel of the segment between their images (``docs/vm-checkpoints.md`` section
    8.1). Raises, when called, what :meth:`ImageOpener.open` raises,
    :class:`~ccnet.worker.exceptions.CheckpointMismatchError` (another job's image),
    :class:`~ccnet.worker.exceptions.JobRunError` (the run failed) and
    :class:`ValueError` (it did not run to its end)."""

    def __init__(
        self,
        job: CheckpointedJob,
        sandbox: Sandbox,
        store: CheckpointStore,
        *,
        max_image_bytes: int = 1 << 30,
    ) -> None:
        self.job = job
        self.sandbox = sandbox
        self.images = ImageOpener(job, store, max_image_bytes=max_image_bytes)
        self.runs = 0
        """Re-runs made."""

    async def __call__(self, start: Announced | None) -> int:
        return await asyncio.to_thread(self._rest, start)

    def _rest(self, start: Announced | None) -> int:
        image = None if start is None else self.images.open(start)
        base = self.job.base
        self.runs += 1
        outcome = self.sandbox.run_checkpointed(
            self.job.module,
            policy=CheckpointPolicy(),
            resume=image,
            args=base.args,
            stdin=base.input,
            seed=base.seed,
        )
        if not isinstance(outcome, RunOutcome):
            raise ValueError("the re-run stopped before its end")
        return outcome.fuel_used
