"""train_pipeline with a whole timm recipe: auto-augment, colour jitter and random erasing in the
graph; seeds and exact resume hold; bad options are named; preview shows the recipe."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dali_mixup import DALILoader, MixConfig
from dali_mixup.cli import main
from dali_mixup.preview import CAPTION_HEIGHT, HEADER_HEIGHT, describe_recipe
from pipelines import IMAGENET_MEAN, train_pipeline

MIX = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=2)
HEAVY = dict(auto_augment="rand-m9-mstd0.5-inc1", re_prob=0.5, re_mode="pixel", mix=MIX)


def batches(loader: DALILoader, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    while len(out) < count:
        out += [batch for _, batch in zip(range(count - len(out)), loader)]
    return out


@pytest.mark.parametrize("recipe", [
    HEAVY, dict(auto_augment="original", re_prob=0.25, re_mode="rand", re_count=2),
    dict(auto_augment="ta_wide", interpolation="random"), dict(color_jitter=(0.4, 0.4, 0.4, 0.1), mix=MIX),
], ids=["randaugment", "autoaugment", "trivialaugment", "color-jitter"])
def test_same_seed_same_batches_and_exact_resume(make_image_folder, recipe) -> None:
    """Every random choice is a seeded DALI draw: the same seed repeats the batches, another
    changes them, and a loader resumed from a state dict continues with exactly the batches
    that came next (11 samples, batches of 4, resumed mid-epoch)."""
    data = make_image_folder([6, 5], size=(40, 52))

    def make(seed: int = 9) -> DALILoader:
        return DALILoader(train_pipeline(data, batch_size=4, image_size=24, seed=seed, device="cpu", **recipe))

    original = make()
    batches(original, 4)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    expected = batches(original, 5)
    again = batches(make(), 9)[4:]
    resumed = make()
    resumed.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    for (images, targets), (want, want_targets), (rerun, _) in zip(batches(resumed, 5), expected, again, strict=True):
        assert torch.equal(images, want) and torch.equal(targets, want_targets) and torch.equal(rerun, want)
    other = batches(make(seed=10), 9)[4:]
    assert not all(torch.equal(a, b) for (a, _), (b, _) in zip(other, expected))


def test_augmentation_changes_the_images(make_image_folder) -> None:
    """RandAugment with every operation applied (p1.0) at full magnitude moves the pixel
    statistics of the batch away from the unaugmented crops'."""
    data = make_image_folder([8], size=(40, 52))
    plain = next(iter(DALILoader(train_pipeline(data, batch_size=8, image_size=24, seed=1, device="cpu"))))[0]
    strong = next(iter(DALILoader(train_pipeline(data, batch_size=8, image_size=24, seed=1, device="cpu",
                                                  auto_augment="rand-n3-p1.0-m10-inc1"))))[0]
    assert plain.shape == strong.shape == (8, 3, 24, 24)
    assert not torch.equal(plain, strong)


def test_erasing_after_normalization(make_image_folder) -> None:
    """re_prob=1, "const", no mixing: every image has a box of exact zeros (the normalized
    value; the mean colour in pixels), and nothing else is zero."""
    white = lambda i, c: np.full((40, 52, 3), 255, np.uint8)  # noqa: E731
    data = make_image_folder([6], pixels=white)
    images, _ = next(iter(DALILoader(train_pipeline(data, batch_size=6, image_size=32, device="cpu", re_prob=1.0,
                                                    re_mode="const"))))
    for image in images:
        zero = (image == 0).all(dim=0)
        rows, cols = torch.nonzero(zero.any(dim=1)).ravel(), torch.nonzero(zero.any(dim=0)).ravel()
        assert zero.sum() > 0
        box = zero[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert box.all()  # one rectangle
        assert zero.sum() == box.numel()
        assert 0.02 * 32 * 32 <= box.numel() <= 32 * 32 / 3 + 2 * 32  # timm's area, rounded sides


@pytest.mark.parametrize("options, message", [
    (dict(auto_augment="rand-m11"), "auto_augment 'rand-m11': 'm11': magnitude 11 exceeds the upper bound 10"),
    (dict(auto_augment="augmix-m5"), "'augmix': AugMix"),
    (dict(auto_augment=7), "auto_augment: expected a policy string"),
    (dict(color_jitter=(0.4, 0.4)), "color_jitter: expected a float >= 0 or a tuple of 3"),
    (dict(color_jitter=0.4, auto_augment="rand-m9"), "color_jitter: timm applies no colour jitter together"),
    (dict(re_prob=1.5), "re_prob"),
    (dict(re_mode="zeros"), "re_mode: expected one of 'const', 'rand', 'pixel', got 'zeros'"),
    (dict(re_count=0), "re_count"),
    (dict(interpolation="nearest"), "interpolation: expected one of"),
])
def test_bad_options_are_named(make_image_folder, options, message) -> None:
    data = make_image_folder([2])
    with pytest.raises(ValueError) as error:
        train_pipeline(data, batch_size=2, **options)
    assert message in str(error.value)


def test_preview_shows_the_recipe(make_image_folder, tmp_path) -> None:
    """The header names the recipe; erased boxes ("const": normalized 0) show in the mean colour."""
    white = lambda i, c: np.full((40, 40, 3), 255, np.uint8)  # noqa: E731
    data = make_image_folder([4], pixels=white)
    out = tmp_path / "grid.png"
    assert main(["preview", str(data), "--out", str(out), "--num-images", "4", "--columns", "2", "--image-size",
                 "32", "--mixup", "0.8", "--aa", "rand-m9-mstd0.5-inc1", "--reprob", "1", "--remode", "const",
                 "--num-classes", "1"]) == 0
    grid = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert grid.shape == (HEADER_HEIGHT + 2 * (32 + CAPTION_HEIGHT), 64, 3)
    assert (grid[:HEADER_HEIGHT].max(axis=2) < 100).sum() > 30  # the header's text
    mean = np.round(np.array(IMAGENET_MEAN) * 255).astype(int)
    tile = grid[HEADER_HEIGHT:HEADER_HEIGHT + 32, :32]
    assert (np.abs(tile - mean).max(axis=2) <= 1).sum() >= 0.02 * 32 * 32
    assert describe_recipe(dict(auto_augment="original", re_prob=0.25, re_mode="pixel", re_count=2)) == \
        "auto_augment original, erasing p=0.25 pixel x2"
    assert describe_recipe(dict(color_jitter=0.4)) == "color_jitter 0.4" and describe_recipe({}) == ""
