"""The training pipeline: read, decode the random crop, resize, flip, mix, normalize."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from nvidia.dali import fn
from nvidia.dali.data_node import DataNode

from dali_mixup import MixConfig, mix, normalize
from dali_mixup.augment import Augmentation, ColorJitter, augment, timm_fill
from dali_mixup.erasing import Erasing, EraseMode, random_erasing
from dali_mixup.policy import parse_auto_augment
from dali_mixup.resample import Interpolation, check_interpolation, resize

from .badfiles import screen
from .device import Device, Runtime, check_shards, resolve_runtime
from .output import (IMAGENET_MEAN, IMAGENET_STD, DType, Output, check_hw_decoder_load,
                     check_image_size, class_ids, decoder_options)
from .sources import PathLike, Source, open_source
from .spec import Layout, PipelineSpec

def _range(name: str, value: object, *, low: float, high: float) -> tuple[float, float]:
    ok = (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                  for v in value) and low < value[0] <= value[1] <= high)
    if not ok:
        raise ValueError(f"{name}: expected (lo, hi) with {low} < lo <= hi <= {high}, got {value!r}")
    return float(value[0]), float(value[1])


@dataclass(frozen=True, kw_only=True)
class TrainGraph:
    """The training graph's options (timm's names): ``scale``/``ratio`` of the random resized
    crop (area fraction, width/height), ``hflip`` the chance of a horizontal flip,
    ``interpolation`` the crop's resample (and the auto-augment policy's), ``auto_augment`` timm's
    policy string (``policy.parse_auto_augment``), ``color_jitter`` timm's (not with a policy),
    ``re_prob``/``re_mode``/``re_count`` timm's random erasing of the normalized images, ``mix``
    the mixing stage (None: no mixing)."""

    image_size: int
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: float = 0.5
    interpolation: Interpolation = "bilinear"
    auto_augment: str | None = None
    color_jitter: float | tuple[float, ...] | None = None
    re_prob: float = 0.0
    re_mode: EraseMode = "const"
    re_count: int = 1
    mix: MixConfig | None = None
    output: Output = field(default_factory=Output)
    hw_decoder_load: float = 0.65
    augmentation: Augmentation = field(init=False, repr=False)
    erasing: Erasing = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_image_size(self.image_size)
        object.__setattr__(self, "scale", _range("scale", self.scale, low=0.0, high=1.0))
        object.__setattr__(self, "ratio", _range("ratio", self.ratio, low=0.0, high=math.inf))
        hflip = self.hflip
        if isinstance(hflip, bool) or not isinstance(hflip, (int, float)) or not 0 <= hflip <= 1:
            raise ValueError(f"hflip: expected a probability in [0, 1], got {self.hflip!r}")
        check_interpolation(self.interpolation)
        if self.mix is not None and not isinstance(self.mix, MixConfig):
            raise TypeError(f"mix: expected a MixConfig or None, got {type(self.mix).__name__}")
        check_hw_decoder_load(self.hw_decoder_load)
        policy = None if self.auto_augment is None else parse_auto_augment(self.auto_augment)
        jitter = None if self.color_jitter is None else ColorJitter.from_timm(self.color_jitter)
        object.__setattr__(self, "augmentation", Augmentation(
            policy=policy, jitter=jitter, interpolation=self.interpolation, fill=timm_fill(self.output.mean),
            translate_const=int(self.image_size * 0.45)))
        object.__setattr__(self, "erasing", Erasing(prob=self.re_prob, mode=self.re_mode, count=self.re_count))

    def define(self, prob: DataNode | None, *, samples: DataNode | None, source: Source,
               runtime: Runtime, reader_name: str) -> tuple[DataNode, DataNode]:
        """Define the graph in the current pipeline; ``prob``: the mixing stage's chance of
        mixing per sample (CPU float32), None for ``mix.prob``; ``samples``: the real samples
        of each batch (CPU int32, ``mix(samples=...)``), None where every batch is full."""
        encoded, labels = source.read(name=reader_name, shard_id=runtime.shard_id,
                                      num_shards=runtime.num_shards,
                                      shuffle_seed=runtime.reader_seed)
        # Decodes only the crop window (ROI decoding), on the GPU where there is one; the
        # per-image augmentation is ours on the CPU (Pillow's operations, as timm's), so with
        # one the images are decoded there and move to the GPU augmented.
        augmenting = self.augmentation.active
        decode_on = "cpu" if augmenting else runtime.device
        images = fn.decoders.image_random_crop(
            encoded, random_area=self.scale, random_aspect_ratio=self.ratio,
            **decoder_options(decode_on, self.hw_decoder_load))
        # The flip rides on the resample (no extra pass); it must precede mixing, which
        # blends two different samples.
        size = self.image_size
        images = resize(images, size=(size, size), interpolation=self.interpolation,
                        mirror=fn.random.coin_flip(probability=self.hflip))
        if augmenting:
            images = augment(images, self.augmentation)
            if runtime.device == "gpu":
                images = images.gpu()
        if self.mix is None:
            # The stage's normalization, as with mixing: the two differ by the mixing alone.
            images = normalize(images, self.output.normalization, layout="HWC",
                               dtype=self.output.dali_dtype)
            targets = class_ids(labels, runtime.device)
        else:
            # Mixing before normalizing is exact (normalizing is per-channel affine and the
            # mixing weights sum to 1) and reads uint8 HWC pixels; the stage's operator
            # normalizes in the same pass, so mixing adds no pass over the batch.
            images, targets = mix(images, labels, self.mix, prob=prob, layout="HWC",
                                  dtype=self.output.dali_dtype, normalize=self.output.normalization,
                                  samples=samples)
        # timm erases the normalized batch after mixing (its train.py's prefetcher).
        if self.erasing.prob > 0:
            images = random_erasing(images, self.erasing, layout=self.output.layout[1:])
        return images, targets


def train_pipeline(source: PathLike | Sequence[PathLike] | Source, *, batch_size: int,
                   image_size: int = 224, mix: MixConfig | None = None,
                   scale: tuple[float, float] = (0.08, 1.0),
                   ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip: float = 0.5,
                   interpolation: Interpolation = "bilinear", auto_augment: str | None = None,
                   color_jitter: float | tuple[float, ...] | None = None, re_prob: float = 0.0,
                   re_mode: EraseMode = "const", re_count: int = 1,
                   mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                   layout: Layout = "NCHW", dtype: DType = "float32",
                   num_threads: int | None = None, device: Device | None = None, seed: int = 42,
                   shard_id: int | None = None, num_shards: int | None = None,
                   hw_decoder_load: float = 0.65, skip_bad_files: bool = False) -> PipelineSpec:
    """The training pipeline for image classification, for ``DALILoader`` (or build it with
    ``.pipeline()``).

    ``source``: an image folder, a file list or WebDataset shards (see
    ``pipelines.sources.open_source``); JPEG and PNG, converted to RGB.
    Graph: random-resized-crop to ``image_size`` (``scale``, ``ratio``; the window decoded alone,
    then resampled with ``interpolation``: "bilinear", "bicubic" or "random", per image, as
    timm; on the CPU exactly Pillow's antialiased filters, see ``dali_mixup.resample``),
    horizontal flip with chance ``hflip``, then timm's per-image augmentation: ``auto_augment``
    (a policy string: RandAugment "rand-m9-mstd0.5-inc1", AutoAugment "original"/"v0", or
    TrivialAugment-wide "ta_wide"; see ``dali_mixup.policy``) or ``color_jitter`` (a float or a
    3/4-tuple, torchvision's ColorJitter; timm never applies both), on the CPU in Pillow's
    arithmetic (on a GPU pipeline with either, the images are decoded and augmented on the CPU
    and move to the GPU before mixing); then the mixing stage when ``mix`` is set, normalization with ``mean``/``std``
    (0..1 scale), and timm's random erasing of the normalized images (``re_prob``, ``re_mode``
    "const"/"rand"/"pixel", ``re_count``; after mixing, as timm's train.py).
    Outputs per batch: images (N, 3, S, S) for ``layout="NCHW"``, (N, S, S, 3) for "NHWC",
    ``dtype`` float32 or float16; targets float32 (N, num_classes) with ``mix``, else int64
    (N,) class ids. Every epoch reads a new permutation of the data set.
    Run-time settings: ``device`` None picks the GPU where DALI finds one (decoding there
    with ``hw_decoder_load`` of the JPEGs on the hardware decoder), else the CPU;
    ``shard_id``/``num_shards`` default to ``torchrun``'s RANK/WORLD_SIZE; ``seed`` fixes
    every random choice (each shard derives its own crops, flips and mixing from it).
    Images that will not decode: by default, every image's header and end are checked first
    and ``BadFileError`` names each bad one; ``skip_bad_files=True`` decodes every image
    once instead and leaves the bad ones out, naming each in a logged warning (both scans
    are cached for large data sets; see ``pipelines.badfiles``).
    """
    graph = TrainGraph(image_size=image_size, scale=scale, ratio=ratio, hflip=hflip,
                       interpolation=interpolation, auto_augment=auto_augment, color_jitter=color_jitter,
                       re_prob=re_prob, re_mode=re_mode, re_count=re_count, mix=mix,
                       output=Output(mean=mean, std=std, layout=layout, dtype=dtype),
                       hw_decoder_load=hw_decoder_load)
    runtime = resolve_runtime(batch_size=batch_size, num_threads=num_threads, device=device,
                              seed=seed, shard_id=shard_id, num_shards=num_shards)
    data = open_source(source)
    check_shards(runtime, data.num_samples)
    if mix is not None and data.num_classes is not None and mix.num_classes < data.num_classes:
        raise ValueError(f"mix.num_classes={mix.num_classes}, but the data set has class ids up to "
                         f"{data.num_classes - 1}: expected num_classes >= {data.num_classes}")
    # Arguments and listing checked: now the images themselves.
    data = screen(data, skip_bad_files=skip_bad_files, num_threads=runtime.num_threads)
    check_shards(runtime, data.num_samples)
    return PipelineSpec(graph=graph, runtime=runtime, source=data, layout=layout, mix=mix)
