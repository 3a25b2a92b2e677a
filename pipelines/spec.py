"""``PipelineSpec``: what the factories return and ``DALILoader`` takes. It holds the graph and
the run-time settings rather than one DALI pipeline, because resuming from a checkpoint
means building the same pipeline again."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

from nvidia.dali import Pipeline, fn, pipeline_def, types
from nvidia.dali.data_node import DataNode

from dali_mixup import MixConfig
from dali_mixup.schedule import MixSchedule

from .device import Runtime
from .sources import Source

Layout = Literal["NCHW", "NHWC"]


class Graph(Protocol):
    """A pipeline's graph options (``TrainGraph``, ``ValGraph``)."""

    def define(self, prob: DataNode | None, *, source: Source, runtime: Runtime,
               reader_name: str) -> tuple[DataNode, DataNode]:
        """Define ``(images, targets)`` in the current pipeline; ``prob``: the chance of
        mixing per sample (float32 CPU DataNode), None for the mixing config's own."""
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
    def shard_size(self) -> int:
        """Samples per shard and epoch, counting DALI's padding of the smaller shards."""
        return math.ceil(self.source.num_samples / self.runtime.num_shards)

    @property
    def iters_per_epoch(self) -> int:
        """Pipeline runs per epoch: DALI pads each shard's last batch, so every shard makes
        the same number, also where its last batch is dropped afterwards."""
        return math.ceil(self.shard_size / self.runtime.batch_size)

    def pipeline(self, *, checkpoint: bytes | None = None,
                 schedule: MixSchedule | None = None) -> Pipeline:
        """A new DALI pipeline with the graph defined (not built), checkpointing enabled.

        ``checkpoint``: from ``Pipeline.checkpoint()``, to resume where it was taken.
        ``schedule``: the chance of mixing per iteration, fed by an external source (default:
        ``mix.prob`` throughout, a constant); ignored without ``mix``.
        """
        rt = self.runtime
        use_schedule = self.mix is not None and schedule is not None

        # Conditionals let the stage on DALI's operators (GPU images) run, per batch, only
        # the CutMix paste or only the Mixup blend, instead of both.
        @pipeline_def(batch_size=rt.batch_size, num_threads=rt.num_threads,
                      device_id=rt.device_id, seed=rt.pipeline_seed, enable_checkpointing=True,
                      checkpoint=checkpoint, enable_conditionals=True)
        def graph():
            prob = None
            if use_schedule:
                prob = fn.external_source(source=schedule, batch=True, batch_info=True,
                                          dtype=types.FLOAT, ndim=0)
            return self.graph.define(prob, source=self.source, runtime=self.runtime,
                                     reader_name=self.reader_name)

        return graph()
