"""Contenders 3 and 4 of the throughput benchmark: the DataLoader recipe users run today,
with torchvision's v2 MixUp/CutMix in the collate_fn (or a Pillow + torch stand-in), and
the same DataLoader with mixing on the GPU after the copy. SPDL's pipeline (contender 7) mixes
with the same batch mixer. The heavy recipe adds torchvision's RandAugment and random erasing
(torchvision only: there is no stand-in for RandAugment)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler, default_collate

from benchmarks.recipe import (CUTMIX_ALPHA, HFLIP, MIXUP_ALPHA, RAND_MAGNITUDE, RAND_NUM_OPS, RATIO, RE_PROB, SCALE,
                               Batch, DataInfo, Mixer, Settings)
from pipelines import IMAGENET_MEAN, IMAGENET_STD


def torchvision_available() -> bool:
    try:
        import torchvision.transforms.v2  # noqa: F401
    except Exception:  # a torchvision built for another torch fails with various errors
        return False
    return True


def _torchvision_folder(data: DataInfo, settings: Settings, *, recipe: str) -> Dataset:
    """torchvision's ``ImageFolder`` with its reference training transforms; the heavy recipe
    adds ``RandAugment`` on the PIL image and ``RandomErasing`` after normalizing, where
    torchvision's reference recipe puts them."""
    from torchvision import datasets
    from torchvision.transforms import v2

    heavy = recipe == "heavy"
    transform = v2.Compose([
        v2.RandomResizedCrop(settings.image_size, scale=SCALE, ratio=RATIO, antialias=True),
        v2.RandomHorizontalFlip(HFLIP),
        *([v2.RandAugment(num_ops=RAND_NUM_OPS, magnitude=RAND_MAGNITUDE,
                          interpolation=v2.InterpolationMode.BILINEAR)] if heavy else []),
        v2.PILToTensor(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        *([v2.RandomErasing(RE_PROB)] if heavy else []),
    ])
    return datasets.ImageFolder(str(data.root), transform=transform)


def batch_mixer(num_classes: int, *, backend: str) -> Mixer:
    """The DataLoader recipe's batch mixer: torchvision's v2 ``RandomChoice([MixUp, CutMix])``,
    or ``TorchMix`` where torchvision is missing."""
    if backend != "torchvision":
        return TorchMix(num_classes=num_classes)
    from torchvision.transforms import v2

    return v2.RandomChoice([
        v2.MixUp(alpha=MIXUP_ALPHA, num_classes=num_classes),
        v2.CutMix(alpha=CUTMIX_ALPHA, num_classes=num_classes),
    ])


class PillowFolder(Dataset):
    """``ImageFolder`` + RandomResizedCrop, flip, to-tensor and normalize, with Pillow and torch only."""

    def __init__(self, samples: list[tuple[Path, int]], *, image_size: int) -> None:
        self.samples = samples
        self.image_size = image_size
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        with Image.open(path) as file:
            image = file.convert("RGB")
        left, top, width, height = random_resized_crop_box(image.width, image.height)
        image = image.crop((left, top, left + width, top + height))
        image = image.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        if torch.rand(()) < HFLIP:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div_(255)
        return pixels.sub_(self.mean).div_(self.std), label


def random_resized_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, width, height) drawn as torchvision's RandomResizedCrop does (``SCALE``, ``RATIO``)."""
    area = width * height
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(10):
        target = area * float(torch.empty(()).uniform_(*SCALE))
        ratio = math.exp(float(torch.empty(()).uniform_(*log_ratio)))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, ()))
            left = int(torch.randint(0, width - w + 1, ()))
            return left, top, w, h
    # Fallback, as torchvision: the whole image's centre, aspect clamped to the ratio range.
    w, h = width, height
    if width / height < RATIO[0]:
        h = round(width / RATIO[0])
    elif width / height > RATIO[1]:
        w = round(height * RATIO[1])
    return (width - w) // 2, (height - h) // 2, w, h


class TorchMix:
    """torchvision v2 ``RandomChoice([MixUp, CutMix])`` in plain torch: one lam and box per batch,
    partner = the batch rolled by one, lam corrected to the box area; works on any device."""

    def __init__(self, *, num_classes: int) -> None:
        self.num_classes = num_classes
        self.mixup = torch.distributions.Beta(MIXUP_ALPHA, MIXUP_ALPHA)
        self.cutmix = torch.distributions.Beta(CUTMIX_ALPHA, CUTMIX_ALPHA)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> Batch:
        targets = torch.nn.functional.one_hot(labels, self.num_classes).to(images.dtype)
        if torch.rand(()) < 0.5:
            lam = float(self.mixup.sample())
            images = images.roll(1, 0).mul_(1 - lam).add_(images.mul(lam))
        else:
            images, lam = self._paste_box(images, float(self.cutmix.sample()))
        return images, targets.roll(1, 0).mul_(1 - lam).add_(targets.mul(lam))

    @staticmethod
    def _paste_box(images: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
        height, width = images.shape[-2:]
        cy, cx = int(torch.randint(height, ())), int(torch.randint(width, ()))
        half_h, half_w = int(0.5 * height * math.sqrt(1 - lam)), int(0.5 * width * math.sqrt(1 - lam))
        y1, y2 = max(cy - half_h, 0), min(cy + half_h, height)
        x1, x2 = max(cx - half_w, 0), min(cx + half_w, width)
        out = images.clone()
        out[..., y1:y2, x1:x2] = images.roll(1, 0)[..., y1:y2, x1:x2]
        return out, 1.0 - (y2 - y1) * (x2 - x1) / (height * width)


class MixCollate:
    """``collate_fn`` that stacks samples, then mixes the batch (picklable for worker processes)."""

    def __init__(self, mixer: Mixer) -> None:
        self.mixer = mixer

    def __call__(self, samples: list[tuple[torch.Tensor, int]]) -> Batch:
        return self.mixer(*default_collate(samples))


def dataloader_parts(data: DataInfo, settings: Settings, *, backend: str,
                     recipe: str = "light") -> tuple[Dataset, Mixer]:
    """The dataset and batch mixer of the DataLoader recipe, from torchvision or from Pillow + torch
    (the light recipe only)."""
    if backend == "torchvision":
        dataset = _torchvision_folder(data, settings, recipe=recipe)
    elif recipe != "light":
        raise ValueError(f"the {recipe} recipe needs torchvision: the Pillow + torch stand-in has no RandAugment")
    else:
        dataset = PillowFolder(data.samples, image_size=settings.image_size)
    return dataset, batch_mixer(data.num_classes, backend=backend)


def dataloader_stream(
    data: DataInfo, settings: Settings, *, backend: str, mix_on_gpu: bool, recipe: str = "light"
) -> Iterator[Batch]:
    """Endless batches from a DataLoader with one worker per core, augmented with ``recipe``,
    mixed in the workers or on the GPU."""
    dataset, mixer = dataloader_parts(data, settings, backend=backend, recipe=recipe)
    # One endless shuffled pass: no epoch-boundary stall, as on a data set far larger than a run.
    sampler = RandomSampler(dataset, num_samples=2**40)
    loader = DataLoader(
        dataset,
        batch_size=settings.batch_size,
        sampler=sampler,
        num_workers=settings.workers,
        collate_fn=default_collate if mix_on_gpu else MixCollate(mixer),
        pin_memory=mix_on_gpu,
        drop_last=True,
    )
    for images, labels in loader:
        if mix_on_gpu:
            images, labels = mixer(images.cuda(non_blocking=True), labels.cuda(non_blocking=True))
        yield images, labels
