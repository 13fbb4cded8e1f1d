"""Compute worker: claims tasks, runs jobs and submits results."""

import logging

__all__: list[str] = []

logging.getLogger(__name__).addHandler(logging.NullHandler())
