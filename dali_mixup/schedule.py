"""The chance of mixing per pipeline iteration, fed to ``mix(prob=...)`` by an external source:
how mixing is switched off from an epoch on (timm's ``mixup_off_epoch``) without rebuilding
the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nvidia.dali.types import BatchInfo


@dataclass(frozen=True, kw_only=True)
class MixSchedule:
    """``fn.external_source(source=schedule, batch=True, batch_info=True)``: a float32 scalar
    per sample, ``prob`` before epoch ``off_epoch`` and 0 from it on.

    The epoch is computed from the iteration DALI asks for (``epoch_offset + iteration //
    iters_per_epoch``), not from when the value is read, so prefetching cannot move the
    switch, and DALI's checkpoints, which restore the iteration count, keep it exact.
    ``iters_per_epoch`` 0 (unknown) counts every iteration in ``epoch_offset``.
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
