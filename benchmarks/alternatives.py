"""The throughput benchmark's other yardsticks beside the DataLoader recipe: NVIDIA's recipe
(DeepLearningExamples' image classification: a DALI pipeline without mixing, Mixup in torch
after the iterator), and the decode-only ceiling (reading and decoding the random-resized-crop
window, nothing after it)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from benchmarks.recipe import RATIO, SCALE, Batch, DataInfo, Settings


class NvidiaMixup:
    """DeepLearningExamples' ``image_classification/mixup.py`` (Mixup only, no CutMix), on
    whatever device the batch is on: one ``lam`` per batch from ``np.random.beta(alpha, alpha)``,
    ``perm = torch.randperm(B)``, ``x = lam * x + (1 - lam) * x[perm]``, and the same blend of
    the one-hot targets (smoothed by ``label_smoothing``, as our stage smooths them)."""

    def __init__(self, *, alpha: float, num_classes: int, label_smoothing: float = 0.0) -> None:
        self.alpha = alpha
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def targets(self, labels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Smoothed one-hot targets: 1 - eps + eps / C for the class, eps / C elsewhere."""
        onehot = torch.nn.functional.one_hot(labels.reshape(-1).long(), self.num_classes).to(dtype)
        eps = self.label_smoothing
        return onehot * (1 - eps) + eps / self.num_classes if eps else onehot

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> Batch:
        with torch.no_grad():
            lam = float(np.random.beta(self.alpha, self.alpha))
            perm = torch.randperm(images.shape[0], device=images.device)
            targets = self.targets(labels, images.dtype)
            return lam * images + (1 - lam) * images[perm], lam * targets + (1 - lam) * targets[perm]


def nvidia_stream(batches: Iterator[Batch], mixer: NvidiaMixup) -> Iterator[Batch]:
    """The mixed batches of a stream of (images, class ids), as DeepLearningExamples'
    ``MixUpWrapper`` hands them to the training loop."""
    for images, labels in batches:
        yield mixer(images, labels)


def decode_only_stream(data: DataInfo, settings: Settings, *, scale: tuple[float, float] = SCALE,
                       ratio: tuple[float, float] = RATIO) -> Iterator[tuple]:
    """Endless batches of a CPU DALI pipeline that reads the same files as ``train_pipeline``
    (shuffled each epoch) and decodes the random-resized-crop window only (``scale``, ``ratio``
    as ours), with as many threads: no resize, no flip, no normalization, no torch copy. Yields
    ``pipe.run()``'s outputs (uint8 HWC crops of their own sizes, labels) as DALI hands them over."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=settings.batch_size, num_threads=settings.workers, device_id=None,
                  seed=settings.seed)
    def graph():
        encoded, labels = fn.readers.file(
            files=[str(path) for path, _ in data.samples], labels=[label for _, label in data.samples],
            shuffle_after_epoch=True, shuffle_after_epoch_seed=settings.seed, pad_last_batch=True)
        images = fn.decoders.image_random_crop(encoded, device="cpu", output_type=types.RGB,
                                               random_area=scale, random_aspect_ratio=ratio)
        return images, labels

    pipe = graph()
    pipe.build()
    try:
        while True:
            try:
                yield pipe.run()
            except StopIteration:  # the reader's epoch ended: start the next one
                pipe.reset()
    finally:
        del pipe
