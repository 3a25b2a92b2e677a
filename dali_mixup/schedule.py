"""Inputs of the mixing stage that change between pipeline iterations, fed by external
sources keyed on the iteration DALI asks for (not on when the value is read, so prefetching
cannot move them, and DALI's checkpoints, which restore the iteration count, keep them
exact): the chance of mixing (``MixSchedule``: how mixing is switched off from an epoch on,
timm's ``mixup_off_epoch``, without rebuilding the pipeline) and the count of real samples
in a batch (``RealSamples``: DALI pads a shard's last batch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nvidia.dali.types import BatchInfo


@dataclass(frozen=True, kw_only=True)
class MixSchedule:
    """``fn.external_source(source=schedule, batch=True, batch_info=True)``: a float32 scalar
    per sample, ``prob`` before epoch ``off_epoch`` and 0 from it on.

    The epoch is ``epoch_offset + iteration // iters_per_epoch``; ``iters_per_epoch`` 0
    (unknown) counts every iteration in ``epoch_offset``.
    """

    prob: float
    batch_size: int
    iters_per_epoch: int = 0
    epoch_offset: int = 0
    off_epoch: int | None = None

    def epoch(self, iteration: int) -> int:
        """The epoch that pipeline iteration ``iteration`` (from 0) belongs to."""
        if not self.iters_per_epoch:
            return self.epoch_offset
        return self.epoch_offset + iteration // self.iters_per_epoch

    def prob_at(self, epoch: int) -> float:
        return 0.0 if self.off_epoch is not None and epoch >= self.off_epoch else self.prob

    def __call__(self, info: BatchInfo) -> np.ndarray:
        return np.full(self.batch_size, self.prob_at(self.epoch(info.iteration)), dtype=np.float32)


@dataclass(frozen=True, kw_only=True)
class RealSamples:
    """``fn.external_source(source=counts, batch=True, batch_info=True)``: an int32 scalar
    per sample, for ``mix(samples=...)``: how many samples at the start of the batch are
    real, for a reader that reads ``shard_size`` samples an epoch in ``iters_per_epoch``
    batches of ``batch_size`` and pads the rest with copies of its last sample
    (``pad_last_batch``): ``clip(shard_size - (iteration % iters_per_epoch) * batch_size,
    0, batch_size)``.
    """

    shard_size: int
    batch_size: int
    iters_per_epoch: int

    def __post_init__(self) -> None:
        if not 0 < self.shard_size <= self.iters_per_epoch * self.batch_size:
            raise ValueError(f"RealSamples: shard_size={self.shard_size}: expected 1 to "
                             f"iters_per_epoch * batch_size = {self.iters_per_epoch * self.batch_size}")

    @property
    def padded(self) -> bool:
        """Whether some batch of an epoch holds padding (else every count is batch_size)."""
        return self.shard_size < self.iters_per_epoch * self.batch_size

    def count(self, iteration: int) -> int:
        """The real samples of pipeline iteration ``iteration`` (from 0)."""
        left = self.shard_size - (iteration % self.iters_per_epoch) * self.batch_size
        return min(max(left, 0), self.batch_size)

    def __call__(self, info: BatchInfo) -> np.ndarray:
        return np.full(self.batch_size, self.count(info.iteration), dtype=np.int32)
