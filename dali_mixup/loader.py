"""``DALILoader``: a DALI pipeline behind the interface of a PyTorch ``DataLoader``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import torch
from nvidia.dali.pipeline import Pipeline
from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

from .config import MixConfig
from .errors import translate_errors
from .memory import release_free_memory
from .schedule import MixSchedule

# 3: the graphs changed (a count of real samples per batch where a shard's last batch is
# padded; one more uniform draw per sample), so DALI checkpoints of version 2 do not fit them.
_STATE_VERSION = 3


@runtime_checkable
class LoaderPipeline(Protocol):
    """What ``DALILoader`` needs of a pipeline (``pipelines.PipelineSpec`` is one): a DALI
    pipeline that can be built afresh from a checkpoint, whose outputs are ``images`` and
    ``targets`` and whose reader, named ``reader_name``, pads the last batch of its shard."""

    mix: MixConfig | None  # what the graph mixes; None: nothing, targets are class ids
    layout: str  # the images' layout: "NCHW", or "NHWC" (channels-last)
    reader_name: str

    @property
    def batch_size(self) -> int: ...

    @property
    def num_samples(self) -> int:
        """Samples of the whole data set (all shards)."""
        ...

    @property
    def num_shards(self) -> int: ...

    @property
    def iters_per_epoch(self) -> int:
        """Pipeline runs per epoch, the same on every shard."""
        ...

    def settings(self) -> dict[str, Any]:
        """What must match for a saved state to be loaded: anything that changes the
        batches, as plain values."""
        ...

    def pipeline(self, *, checkpoint: bytes | None = None,
                 schedule: MixSchedule | None = None) -> Pipeline:
        """A new pipeline (not built) with checkpointing enabled, resumed from
        ``checkpoint``; ``schedule``: the chance of mixing per iteration (None: the mixing
        config's own)."""
        ...

    def explain(self, error: BaseException) -> Exception | None:
        """The error to raise instead of a pipeline's run-time ``error`` (e.g. naming an
        image that will not decode), or None to raise ``error`` itself."""
        ...


class DALILoader:
    """Iterate ``(images, targets)`` torch tensors from a pipeline (what
    ``pipelines.train_pipeline`` or ``val_pipeline`` returns, or any ``LoaderPipeline``),
    epoch after epoch, as from a ``DataLoader``.

    ``images``: float32 or float16 (N, 3, H, W), on the pipeline's device; with the
    pipeline's ``layout="NHWC"`` the same shape in ``torch.channels_last`` memory format.
    ``targets``: what ``torch.nn.CrossEntropyLoss`` takes: float32 (N, num_classes)
    probabilities when the pipeline mixes, else int64 (N,) class ids.

    The tensors are DALI's output buffers themselves, not copies (DALI copies only for a
    pipeline built with ``exec_dynamic=False``): DALI does not reuse a buffer while a tensor
    on it is referenced, so a batch kept stays as it came, and writing to a batch changes no
    other.

    Each epoch reads every sample of the shard exactly once; the last batch is smaller
    unless ``drop_last``. (DALI pads that batch with copies of the shard's last sample; the
    mixing stage, told how many samples are real, mixes the real ones only with each
    other.) A loop left early is continued by the next one. Mixing stops from epoch
    ``mixup_off_epoch`` on (timm's ``--mixup-off-epoch``), exactly at the epoch boundary
    whatever DALI has prefetched. ``state_dict()`` taken mid-epoch and loaded into
    a loader on the same pipeline settings resumes with exactly the batches that would
    have come next.

    At the end of each epoch the C heap's free pages go back to the system, so that the
    process's memory stays flat over long runs (``dali_mixup.memory``).

    Where DALI stops on an image it cannot read or decode, the loader raises
    ``pipelines.BadFileError`` naming the file and the reason (decoding every image of the
    data set to find it where DALI's error does not name it).
    """

    def __init__(self, pipeline: LoaderPipeline, *, drop_last: bool = False,
                 mixup_off_epoch: int | None = None) -> None:
        if not isinstance(pipeline, LoaderPipeline):
            raise TypeError("pipeline: expected what pipelines.train_pipeline or val_pipeline "
                            f"returns, got {type(pipeline).__name__}")
        if not isinstance(drop_last, bool):
            raise TypeError(f"drop_last: expected a bool, got {drop_last!r}")
        if mixup_off_epoch is not None:
            off = mixup_off_epoch
            if isinstance(off, bool) or not isinstance(off, int) or off < 0:
                raise ValueError(f"mixup_off_epoch: expected None or an integer >= 0, got {off!r}")
            if pipeline.mix is None:
                raise ValueError("mixup_off_epoch: the pipeline does not mix (built with mix=None)")
        self._spec = pipeline
        self._drop_last = drop_last
        self._off_epoch = mixup_off_epoch
        # With drop_last, as many full batches as the smallest shard has, on every shard.
        smallest = pipeline.num_samples // pipeline.num_shards
        self._len = smallest // pipeline.batch_size if drop_last else pipeline.iters_per_epoch
        if self._len == 0:
            raise ValueError(f"drop_last=True with batch_size={pipeline.batch_size}, more than the "
                             f"{smallest} samples of a shard: no batch would be left")
        self._epoch = 0  # the epoch being read, or read next
        self._epoch_offset = 0  # the epoch of the pipeline's first iteration (for the schedule)
        self._batches_read = 0  # of the current epoch
        self._iterator: DALIGenericIterator | None = None  # started on first use

    def __len__(self) -> int:
        """Batches per epoch (of this shard)."""
        return self._len

    @property
    def epoch(self) -> int:
        """The epoch being read, or to be read next."""
        return self._epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        iterator = self._start()
        for _ in range(self._batches_read, self._len):
            with self._explained_errors():
                (batch,) = next(iterator)
            self._batches_read += 1
            if self._batches_read == self._len:
                self._end_epoch(iterator)
            yield self._convert(batch)

    def set_epoch(self, epoch: int) -> None:
        """Number the epoch that the next loop reads (call it before each epoch, as
        ``DistributedSampler.set_epoch``; epochs run in order without it).

        Every epoch is a fresh permutation of the data set. The number decides whether
        mixing is on (``mixup_off_epoch``); jumping to another number rebuilds the pipeline
        from its current state, so that nothing prefetched for the old number is used.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"set_epoch: expected an integer >= 0, got {epoch!r}")
        if epoch == self._epoch:
            return
        if self._batches_read:
            raise ValueError(f"set_epoch({epoch}): epoch {self._epoch} is partly read "
                             f"({self._batches_read} of {len(self)} batches); finish it first")
        self._epoch_offset += epoch - self._epoch
        self._epoch = epoch
        if self._iterator is not None and self._spec.mix is not None:
            self._restart(self._checkpoint())

    def state_dict(self) -> dict[str, Any]:
        """The position in the data and in every random sequence, for ``load_state_dict``:
        plain Python values and bytes, for ``torch.save``. One per rank under ``torchrun``."""
        return {
            "version": _STATE_VERSION,
            "settings": self._settings(),
            "epoch": self._epoch,
            "epoch_offset": self._epoch_offset,
            "batches_read": self._batches_read,
            "dali": self._checkpoint(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (from ``state_dict()`` of a loader on a pipeline with the
        same data, batch size, shard and seed): the next batches are exactly those that
        loader would have yielded next."""
        keys = {"version", "settings", "epoch", "epoch_offset", "batches_read", "dali"}
        if not isinstance(state, Mapping) or set(state) != keys or state["version"] != _STATE_VERSION:
            raise ValueError(f"load_state_dict: expected a dict from DALILoader.state_dict() "
                             f"(version {_STATE_VERSION}, keys {sorted(keys)})")
        ours = self._settings()
        differ = [f"{k}={v!r} (this loader: {ours.get(k)!r})"
                  for k, v in state["settings"].items() if ours.get(k) != v]
        if differ or set(state["settings"]) != set(ours):
            raise ValueError("load_state_dict: the state comes from a loader with other settings: "
                             + (", ".join(differ) or "different keys"))
        self._epoch = state["epoch"]
        self._epoch_offset = state["epoch_offset"]
        self._batches_read = state["batches_read"]
        self._restart(state["dali"])

    # ------------------------------------------------------------------ internals

    def _settings(self) -> dict[str, Any]:
        """What must match for a state to be loaded: anything that changes the batches."""
        return {**self._spec.settings(), "drop_last": self._drop_last,
                "mixup_off_epoch": self._off_epoch}

    def _start(self) -> DALIGenericIterator:
        if self._iterator is None:
            self._restart(None)
        return self._iterator

    def _restart(self, checkpoint: bytes | None) -> None:
        spec = self._spec
        schedule = None
        if spec.mix is not None and self._off_epoch is not None:  # else mix.prob throughout
            schedule = MixSchedule(prob=spec.mix.prob, batch_size=spec.batch_size,
                                   iters_per_epoch=spec.iters_per_epoch,
                                   epoch_offset=self._epoch_offset, off_epoch=self._off_epoch)
        pipe = spec.pipeline(checkpoint=checkpoint, schedule=schedule)
        pipe.build()
        size = pipe.reader_meta(spec.reader_name)["epoch_size"]
        if size != spec.num_samples:
            raise ValueError(f"the DALI reader finds {size} samples, the data source "
                             f"{spec.num_samples}: the data changed after it was opened")
        policy = LastBatchPolicy.DROP if self._drop_last else LastBatchPolicy.PARTIAL
        with self._explained_errors():  # the iterator runs the pipeline for its first batch
            self._iterator = DALIGenericIterator(pipe, ["images", "targets"],
                                                 reader_name=spec.reader_name,
                                                 last_batch_policy=policy, auto_reset=True)

    def _end_epoch(self, iterator: DALIGenericIterator) -> None:
        """Close the epoch as soon as its last batch is out, so that a state taken then is
        at the boundary: DALI's iterator resets when asked past the end."""
        with self._explained_errors():
            try:
                next(iterator)
            except StopIteration:
                pass
            else:
                raise RuntimeError(f"DALI yielded more than the {self._len} batches of an epoch")
        self._epoch += 1
        self._batches_read = 0
        release_free_memory()  # else the process's memory creeps up epoch after epoch

    @contextlib.contextmanager
    def _explained_errors(self) -> Iterator[None]:
        """DALI's run-time errors as Python ones: ``MixInputError`` for a batch the mixing
        stage refuses, or what the pipeline explains it by (``BadFileError`` for an image
        that will not decode)."""
        try:
            with translate_errors():
                yield
        except RuntimeError as error:
            explained = self._spec.explain(error)
            if explained is None:
                raise
            raise explained from None

    def _checkpoint(self) -> bytes:
        return self._start().checkpoints()[0]

    def _convert(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        images = batch["images"]
        if self._spec.layout == "NHWC":
            images = images.permute(0, 3, 1, 2)  # NCHW shape, channels_last memory
        return images, batch["targets"]
