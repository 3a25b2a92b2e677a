"""The validation pipeline: read in order, decode, resize the shorter side, centre crop,
normalize. Nothing random, nothing mixed, no sample dropped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from nvidia.dali import fn, types
from nvidia.dali import math as dmath
from nvidia.dali.data_node import DataNode

from dali_mixup.resample import FIXED_INTERPOLATIONS, FixedInterpolation, check_interpolation, resize_shorter

from .badfiles import screen
from .device import Device, Runtime, check_shards, resolve_runtime
from .output import (IMAGENET_MEAN, IMAGENET_STD, DType, Output, check_hw_decoder_load,
                     check_image_size, class_ids, decoder_options)
from .sources import PathLike, Source, open_source
from .spec import Layout, PipelineSpec


@dataclass(frozen=True, kw_only=True)
class ValGraph:
    """The validation graph's options: the shorter side is resized to
    ``floor(image_size / crop_pct)`` (timm's rule) with ``interpolation``, then the centre
    ``image_size`` square kept."""

    image_size: int
    crop_pct: float = 0.875
    interpolation: FixedInterpolation = "bilinear"
    output: Output = field(default_factory=Output)
    hw_decoder_load: float = 0.65

    def __post_init__(self) -> None:
        check_image_size(self.image_size)
        if (isinstance(self.crop_pct, bool) or not isinstance(self.crop_pct, (int, float))
                or not 0 < self.crop_pct <= 1):
            raise ValueError(f"crop_pct: expected a number in (0, 1], got {self.crop_pct!r}")
        check_interpolation(self.interpolation, FIXED_INTERPOLATIONS)
        check_hw_decoder_load(self.hw_decoder_load)

    @property
    def resize_size(self) -> int:
        return math.floor(self.image_size / self.crop_pct)

    def define(self, prob: DataNode | None, *, samples: DataNode | None, source: Source,
               runtime: Runtime, reader_name: str) -> tuple[DataNode, DataNode]:
        """Define the graph in the current pipeline (``prob`` and ``samples`` are unused:
        no mixing)."""
        encoded, labels = source.read(name=reader_name, shard_id=runtime.shard_id,
                                      num_shards=runtime.num_shards, shuffle_seed=None)
        images = fn.decoders.image(encoded, **decoder_options(runtime.device, self.hw_decoder_load))
        images = resize_shorter(images, shorter=self.resize_size, interpolation=self.interpolation)
        size = self.image_size
        shapes = images.shape()
        images = self.output.normalize(images, crop=(size, size), crop_pos_x=_centre(shapes, 1, size),
                                       crop_pos_y=_centre(shapes, 0, size))
        return images, class_ids(labels, runtime.device)


def _centre(shapes: DataNode, axis: int, crop: int) -> DataNode:
    """The crop position along ``axis`` (of HWC ``shapes``, CPU) that puts DALI's crop where
    torchvision's ``CenterCrop`` puts it: ``int(round((side - crop) / 2))``, a half rounded to
    even (DALI's ``crop_pos=0.5`` rounds it up). float32 scalar per sample."""
    extra = dmath.max(fn.cast(shapes[axis], dtype=types.INT32) - crop, 0)
    half = extra // 2
    # (side - crop) / 2 is k + 0.5 for odd extra; round() gives the even one of k, k + 1: k + 1
    # where k is odd, that is where extra is 4j + 3.
    up = fn.cast(extra - (extra // 4) * 4 == 3, dtype=types.INT32)
    # As a fraction of extra: DALI's anchor, that fraction times extra, rounded, is the offset.
    return fn.cast(half + up, dtype=types.FLOAT) / fn.cast(dmath.max(extra, 1), dtype=types.FLOAT)


def val_pipeline(source: PathLike | Sequence[PathLike] | Source, *, batch_size: int,
                 image_size: int = 224, crop_pct: float = 0.875,
                 interpolation: FixedInterpolation = "bilinear",
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 layout: Layout = "NCHW", dtype: DType = "float32",
                 num_threads: int | None = None, device: Device | None = None,
                 shard_id: int | None = None, num_shards: int | None = None,
                 hw_decoder_load: float = 0.65, skip_bad_files: bool = False) -> PipelineSpec:
    """The validation pipeline, for ``DALILoader`` (or build it with ``.pipeline()``).

    ``source``: as ``train_pipeline``'s. Graph: decode, resize the shorter side to
    ``floor(image_size / crop_pct)``, centre crop ``image_size``, normalize: timm's eval
    transform. ``interpolation``: "bilinear" or "bicubic" (timm's eval default for most
    models). On the CPU the resize is torchvision's ``Resize(int)`` on PIL images, bit for bit:
    the longer side ``int(S * long / short)``, Pillow's antialiased filter; the centre crop is
    ``CenterCrop``'s, ``int(round((side - image_size) / 2))`` (halves to even). Elsewhere DALI's
    antialiased resize (GPU images, or ``DALI_MIXUP_FUSED=0``).
    Outputs per batch: images as ``train_pipeline``'s; targets int64 (N,) class ids. Each
    epoch reads every sample of the shard once, in the source's order.
    Run-time settings and ``skip_bad_files`` as ``train_pipeline``'s (nothing here is
    random: no seed).
    """
    graph = ValGraph(image_size=image_size, crop_pct=crop_pct, interpolation=interpolation,
                     output=Output(mean=mean, std=std, layout=layout, dtype=dtype),
                     hw_decoder_load=hw_decoder_load)
    runtime = resolve_runtime(batch_size=batch_size, num_threads=num_threads, device=device,
                              seed=0, shard_id=shard_id, num_shards=num_shards)
    data = open_source(source)
    check_shards(runtime, data.num_samples)
    data = screen(data, skip_bad_files=skip_bad_files, num_threads=runtime.num_threads)
    check_shards(runtime, data.num_samples)
    return PipelineSpec(graph=graph, runtime=runtime, source=data, layout=layout, mix=None)
