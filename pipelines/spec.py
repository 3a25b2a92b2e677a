"""``PipelineSpec``: what the factories return and ``DALILoader`` takes. It holds the graph and
the run-time settings rather than one DALI pipeline, because resuming from a checkpoint
means building the same pipeline again."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from nvidia.dali import Pipeline, fn, pipeline_def, types
from nvidia.dali.data_node import DataNode

from dali_mixup import MixConfig
from dali_mixup.schedule import MixSchedule, RealSamples

from .badfiles import diagnose
from .device import Runtime
from .sources import Source

Layout = Literal["NCHW", "NHWC"]


class Graph(Protocol):
    """A pipeline's graph options (``TrainGraph``, ``ValGraph``)."""

    def define(self, prob: DataNode | None, *, samples: DataNode | None, source: Source,
               runtime: Runtime, reader_name: str) -> tuple[DataNode, DataNode]:
        """Define ``(images, targets)`` in the current pipeline; ``prob``: the chance of
        mixing per sample (float32 CPU DataNode), None for the mixing config's own;
        ``samples``: the real samples of the batch (int32 CPU DataNode, for
        ``mix(samples=...)``), None where every batch is full."""
        ...


@dataclass(frozen=True, kw_only=True)
class PipelineSpec:
    """A DALI pipeline, ready to be built as often as needed.

    Outputs, per batch of ``batch_size`` (the last batch of an epoch is padded by DALI and
    trimmed by ``DALILoader``), on the runtime's device:
    ``images``: ``layout`` NCHW or NHWC, float32 or float16, normalized;
    ``targets``: float32 (N, num_classes) soft targets when ``mix`` is set, else int64 (N,)
    class ids.
    """

    graph: Graph
    runtime: Runtime
    source: Source
    layout: Layout
    mix: MixConfig | None
    reader_name: str = "reader"

    @property
    def batch_size(self) -> int:
        return self.runtime.batch_size

    @property
    def device(self) -> str:
        return self.runtime.device

    @property
    def num_samples(self) -> int:
        """Samples of the whole data set."""
        return self.source.num_samples

    @property
    def num_shards(self) -> int:
        return self.runtime.num_shards

    @property
    def shard_size(self) -> int:
        """Samples per shard and epoch, counting DALI's padding of the smaller shards."""
        return math.ceil(self.source.num_samples / self.runtime.num_shards)

    @property
    def samples_in_shard(self) -> int:
        """The real samples this shard reads each epoch: DALI's readers give shard s of S
        the samples [floor(s * N / S), floor((s + 1) * N / S)) of the (shuffled) data set."""
        n, s, count = self.source.num_samples, self.runtime.shard_id, self.runtime.num_shards
        return (s + 1) * n // count - s * n // count

    @property
    def iters_per_epoch(self) -> int:
        """Pipeline runs per epoch: DALI pads each shard's last batch, so every shard makes
        the same number, also where its last batch is dropped afterwards."""
        return math.ceil(self.shard_size / self.runtime.batch_size)

    @property
    def real_samples(self) -> RealSamples | None:
        """The count of real samples per batch that the mixing stage is given, or None where
        nothing is mixed or every batch of this shard is full."""
        counts = RealSamples(shard_size=self.samples_in_shard, batch_size=self.batch_size,
                             iters_per_epoch=self.iters_per_epoch)
        return counts if self.mix is not None and counts.padded else None

    def settings(self) -> dict[str, Any]:
        """What must match for a loader's state to be loaded: anything that changes the
        batches (not the threads or the GPU)."""
        return {
            "runtime": {k: v for k, v in dataclasses.asdict(self.runtime).items()
                        if k not in ("num_threads", "device_id")},
            "num_samples": self.source.num_samples,
            "graph": repr(self.graph),
        }

    def explain(self, error: BaseException) -> Exception | None:
        """The ``BadFileError`` behind a pipeline's run-time ``error`` (an image that will
        not decode), or None for any other error."""
        return diagnose(self.source, error)

    def pipeline(self, *, checkpoint: bytes | None = None,
                 schedule: MixSchedule | None = None) -> Pipeline:
        """A new DALI pipeline with the graph defined (not built), checkpointing enabled.

        ``checkpoint``: from ``Pipeline.checkpoint()``, to resume where it was taken.
        ``schedule``: the chance of mixing per iteration, fed by an external source (default:
        ``mix.prob`` throughout, a constant); ignored without ``mix``. With ``mix``, where
        this shard's last batch is padded, the count of real samples of each batch
        (``real_samples``) is fed to the stage by another.
        """
        rt = self.runtime
        use_schedule = self.mix is not None and schedule is not None
        counts = self.real_samples

        # Conditionals let the stage on DALI's operators (GPU images) run, per batch, only
        # the CutMix paste or only the Mixup blend, instead of both.
        @pipeline_def(batch_size=rt.batch_size, num_threads=rt.num_threads,
                      device_id=rt.device_id, seed=rt.pipeline_seed, enable_checkpointing=True,
                      checkpoint=checkpoint, enable_conditionals=True)
        def graph():
            prob = samples = None
            if use_schedule:
                prob = fn.external_source(source=schedule, batch=True, batch_info=True,
                                          dtype=types.FLOAT, ndim=0)
            if counts is not None:
                samples = fn.external_source(source=counts, batch=True, batch_info=True,
                                             dtype=types.INT32, ndim=0)
            return self.graph.define(prob, samples=samples, source=self.source,
                                     runtime=self.runtime, reader_name=self.reader_name)

        return graph()
