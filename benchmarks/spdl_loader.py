"""Contender 7 of the throughput benchmark: Meta's SPDL, a thread-pool pipeline
(``spdl.pipeline.PipelineBuilder``) whose threads demux and decode each image with FFmpeg
(``spdl.io``) and crop, resize and flip it in FFmpeg's filter graph, then stack, normalize and
mix the batch in torch with the DataLoader recipe's mixer, on the CPU.

SPDL loads the FFmpeg libraries of the system (FFmpeg 4 to 9); Debian 12 has FFmpeg 5.1."""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from benchmarks.baseline import batch_mixer, random_resized_crop_box
from benchmarks.recipe import HFLIP, Batch, DataInfo, Mixer, Settings, first_line
from pipelines import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    from spdl.io import ImagePackets

FFMPEG_PACKAGES = "libavutil57 libavcodec59 libavformat59 libavfilter8 libavdevice59"  # Debian 12's FFmpeg 5.1

Sample = tuple[Path, int]


def spdl_missing() -> str | None:
    """Why SPDL cannot run here, or None where it can."""
    if importlib.util.find_spec("spdl") is None:
        return "SPDL is not installed (pip install spdl: x86-64 Linux only)"
    try:
        from spdl.io.utils import get_ffmpeg_versions
    except Exception as error:
        return f"SPDL does not import here ({first_line(error)})"
    try:
        get_ffmpeg_versions()  # loads FFmpeg's libraries
    except Exception:  # none of the FFmpeg versions SPDL is built for has its libav*.so here
        return ("SPDL finds no FFmpeg libraries it can load (FFmpeg 4 to 9); on Debian 12: "
                f"apt-get install {FFMPEG_PACKAGES}")
    return None


def crop_filter(box: tuple[int, int, int, int], *, size: int, flip: bool) -> str:
    """FFmpeg's filter graph for one sample: crop ``box`` (left, top, width, height), resize it
    bilinearly to ``size`` x ``size``, flip it where asked, as packed RGB."""
    left, top, width, height = box
    steps = [f"crop={width}:{height}:{left}:{top}", f"scale={size}:{size}:flags=bilinear"]
    if flip:
        steps.append("hflip")
    return ",".join([*steps, "format=pix_fmts=rgb24"])


def decode_crop(packets: ImagePackets, box: tuple[int, int, int, int], *, size: int, flip: bool) -> torch.Tensor:
    """One demuxed image decoded, cropped to ``box``, resized and flipped where asked by FFmpeg:
    uint8 (size, size, 3), RGB."""
    import spdl.io

    frames = spdl.io.decode_packets(packets, filter_desc=crop_filter(box, size=size, flip=flip))
    return spdl.io.to_torch(spdl.io.convert_frames(frames))


def load_sample(sample: Sample, *, size: int) -> tuple[torch.Tensor, int]:
    """One sample with its random-resized-crop (drawn as torchvision's) and flip: uint8
    (size, size, 3) and its label."""
    import spdl.io

    path, label = sample
    packets = spdl.io.demux_image(str(path))
    box = random_resized_crop_box(packets.width, packets.height)
    return decode_crop(packets, box, size=size, flip=bool(torch.rand(()) < HFLIP)), label


class NormalizeAndMix:
    """The pipeline's batch stage: stack uint8 HWC samples into float32 NCHW, normalize, mix."""

    def __init__(self, mixer: Mixer) -> None:
        self.mixer = mixer
        self.mean = torch.tensor([255 * m for m in IMAGENET_MEAN]).view(1, 3, 1, 1)
        self.std = torch.tensor([255 * s for s in IMAGENET_STD]).view(1, 3, 1, 1)

    def __call__(self, samples: Sequence[tuple[torch.Tensor, int]]) -> Batch:
        images = torch.stack([image for image, _ in samples]).permute(0, 3, 1, 2)
        images = images.to(torch.float32, memory_format=torch.contiguous_format).sub_(self.mean).div_(self.std)
        return self.mixer(images, torch.tensor([label for _, label in samples]))


def shuffled_forever(samples: Sequence[Sample], *, seed: int) -> Iterator[Sample]:
    """The samples in a new random order each epoch, without end."""
    rng = random.Random(seed)
    while True:
        yield from rng.sample(list(samples), len(samples))


def spdl_stream(data: DataInfo, settings: Settings, *, backend: str) -> Iterator[Batch]:
    """Endless (normalized float32 images, soft targets) batches of an SPDL pipeline: one
    decoding task per core at a time, then the batch stage, in a pool of as many threads;
    the mixer is the DataLoader recipe's (``backend``); a failing image stops the pipeline."""
    from spdl.pipeline import PipelineBuilder

    pipeline = (
        PipelineBuilder()
        .add_source(shuffled_forever(data.samples, seed=settings.seed))
        .pipe(partial(load_sample, size=settings.image_size), concurrency=settings.workers)
        .aggregate(settings.batch_size, drop_last=True)
        .pipe(NormalizeAndMix(batch_mixer(data.num_classes, backend=backend)))
        .add_sink(2)
        .build(num_threads=settings.workers, max_failures=0)
    )
    with pipeline.auto_stop():
        yield from pipeline
