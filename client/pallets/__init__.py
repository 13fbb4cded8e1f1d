"""Typed wrappers of the five ccnet pallets, one module each (hung on :class:`Chain`)."""

from .channels import ChannelInfo, Channels, ClosingInfo, channel_id_of
from .checkpoints import CheckpointRecord, Checkpoints, JobCheckpointRecord
from .credits import Credits, StakeInfo, Unbonding
from .disputes import DisputeInfo, Disputes
from .tasks import Assignment, Reputation, TaskInfo, Tasks, WorkerInfo

__all__ = [
    "Assignment",
    "ChannelInfo",
    "Channels",
    "CheckpointRecord",
    "Checkpoints",
    "JobCheckpointRecord",
    "ClosingInfo",
    "Credits",
    "DisputeInfo",
    "Disputes",
    "Reputation",
    "StakeInfo",
    "TaskInfo",
    "Tasks",
    "Unbonding",
    "WorkerInfo",
    "channel_id_of",
]
