"""scikit-learn's bundled handwritten digits, written once as an image folder with file lists.

Layout under ``root``::

    train/<class>/<index>.png   test/<class>/<index>.png   (8x8 grayscale PNG)
    train_corrupt40_seed0.txt   "train/<class>/<index>.png <label>" per line, 40% relabelled
    train_corrupt40_seed0_wrong.txt   only the relabelled lines
    train_10per_class_seed0.txt   a class-balanced subset
    manifest.json               what was written, so a second call is a no-op

``<index>`` is the sample's index in ``sklearn.datasets.load_digits()``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

NUM_CLASSES = 10
_FORMAT_VERSION = 2


@dataclass(frozen=True)
class Sample:
    """One image file, relative to the data root, and its label."""

    path: str
    label: int


@dataclass(frozen=True)
class DigitsSplit:
    """Where the exported data set lives and what is in it."""

    root: Path
    train: tuple[Sample, ...]
    test: tuple[Sample, ...]
    mean: float  # pixel mean and standard deviation of the training images, on a 0..1 scale
    std: float

    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    @property
    def test_dir(self) -> Path:
        return self.root / "test"


def _split_indices(labels: np.ndarray, *, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified split: the same share of every class goes to the test side."""
    gen = torch.Generator().manual_seed(seed)
    train: list[int] = []
    test: list[int] = []
    for c in range(NUM_CLASSES):
        members = np.flatnonzero(labels == c)
        order = members[torch.randperm(len(members), generator=gen).numpy()]
        n_test = round(len(members) * test_fraction)
        test += order[:n_test].tolist()
        train += order[n_test:].tolist()
    return sorted(train), sorted(test)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Digits hold integers 0..16; spread them over 0..255."""
    return np.rint(image * (255.0 / 16.0)).astype(np.uint8)


def _write_split(
    root: Path, split: str, images: np.ndarray, labels: np.ndarray, indices: list[int]
) -> tuple[Sample, ...]:
    samples = []
    for i in indices:
        rel = f"{split}/{labels[i]}/{i:04d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_to_uint8(images[i]), mode="L").save(root / rel)
        samples.append(Sample(rel, int(labels[i])))
    return tuple(samples)


def export_digits(root: Path, *, test_fraction: float = 0.3, seed: int = 0) -> DigitsSplit:
    """Write the digits as PNG files under ``root`` once; later calls read the manifest back."""
    root = Path(root)
    manifest = root / "manifest.json"
    wanted = {"version": _FORMAT_VERSION, "test_fraction": test_fraction, "seed": seed}
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved["params"] == wanted:
            train, test = (tuple(Sample(**s) for s in saved[k]) for k in ("train", "test"))
            return DigitsSplit(root, train, test, saved["mean"], saved["std"])
    from sklearn.datasets import load_digits  # imported late: only the first export needs it

    digits = load_digits()
    train_idx, test_idx = _split_indices(digits.target, test_fraction=test_fraction, seed=seed)
    train = _write_split(root, "train", digits.images, digits.target, train_idx)
    test = _write_split(root, "test", digits.images, digits.target, test_idx)
    pixels = torch.from_numpy(_to_uint8(digits.images[train_idx])).double() / 255
    mean, std = pixels.mean().item(), pixels.std().item()
    # The manifest goes last: its presence means every image above is on disk.
    manifest.write_text(json.dumps({
        "params": wanted, "mean": mean, "std": std,
        "train": [asdict(s) for s in train], "test": [asdict(s) for s in test],
    }))  # fmt: skip
    return DigitsSplit(root, train, test, mean, std)


def corrupt_labels(labels: torch.Tensor, *, fraction: float, num_classes: int, seed: int) -> torch.Tensor:
    """Replace exactly ``round(fraction * n)`` labels, chosen at random, by a different random class.

    The new class is drawn uniformly from the other ``num_classes - 1``, so every chosen label
    is wrong and the corrupted share is exactly ``fraction``.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction: expected a number in [0, 1], got {fraction!r}")
    gen = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(labels), generator=gen)[: round(fraction * len(labels))]
    shift = torch.randint(1, num_classes, (len(chosen),), generator=gen)
    out = labels.clone()
    out[chosen] = (labels[chosen] + shift) % num_classes
    return out


def write_file_list(path: Path, samples: tuple[Sample, ...] | list[Sample]) -> Path:
    """Write "relative/path label" lines, the file-list source format of the pipelines."""
    path.write_text("".join(f"{s.path} {s.label}\n" for s in samples))
    return path


def subset_train_list(split: DigitsSplit, *, per_class: int, seed: int) -> Path:
    """A file list of ``per_class`` training images of every class, chosen at random."""
    gen = torch.Generator().manual_seed(seed)
    chosen: list[Sample] = []
    for c in range(NUM_CLASSES):
        members = [s for s in split.train if s.label == c]
        chosen += [members[i] for i in torch.randperm(len(members), generator=gen)[:per_class].tolist()]
    return write_file_list(
        split.root / f"train_{per_class}per_class_seed{seed}.txt", sorted(chosen, key=lambda s: s.path)
    )


def corrupted_train_lists(split: DigitsSplit, *, fraction: float, seed: int) -> tuple[Path, Path]:
    """Relabelled file lists of the training split: all of it, and only the relabelled samples.

    The second list, with the wrong labels, measures memorization: a model's accuracy on it
    is the share of corrupted labels it has learnt by heart. The images on disk stay as they are.
    """
    labels = torch.tensor([s.label for s in split.train])
    noisy = corrupt_labels(labels, fraction=fraction, num_classes=NUM_CLASSES, seed=seed)
    samples = [Sample(s.path, int(y)) for s, y in zip(split.train, noisy)]
    stem = f"train_corrupt{round(100 * fraction)}_seed{seed}"
    return (
        write_file_list(split.root / f"{stem}.txt", samples),
        write_file_list(
            split.root / f"{stem}_wrong.txt", [s for s, y in zip(samples, labels) if s.label != y]
        ),
    )
