"""The bridge from timm's train.py arguments to train_pipeline's options."""

from __future__ import annotations

import argparse

import pytest

from dali_mixup import MixConfig
from pipelines.timm_args import from_timm_args


def timm_args(**changes) -> argparse.Namespace:
    """A namespace with timm train.py's defaults for the options the bridge reads, changed."""
    args = dict(mixup=0.0, cutmix=0.0, cutmix_minmax=None, mixup_prob=1.0, mixup_switch_prob=0.5, mixup_mode="batch",
                smoothing=0.1, num_classes=None, aa=None, reprob=0.0, remode="pixel", recount=1, color_jitter=0.4,
                train_interpolation="random", scale=[0.08, 1.0], ratio=[3 / 4, 4 / 3], hflip=0.5, vflip=0.0,
                no_aug=False, aug_splits=0, jsd_loss=False, resplit=False, aug_repeats=0, color_jitter_prob=None,
                grayscale_prob=0.0, gaussian_blur_prob=0.0, train_crop_mode=None, img_size=None, input_size=None,
                mean=None, std=None)
    args.update(changes)
    return argparse.Namespace(**args)


def test_defaults_are_timms() -> None:
    """timm's defaults: no mixing, colour jitter 0.4, random interpolation, no erasing."""
    assert from_timm_args(timm_args()) == {
        "scale": (0.08, 1.0), "ratio": (3 / 4, 4 / 3), "hflip": 0.5, "interpolation": "random",
        "auto_augment": None, "re_prob": 0.0, "re_mode": "pixel", "re_count": 1, "mix": None, "color_jitter": 0.4}


def test_convnext_recipe() -> None:
    """ConvNeXt's timm command line: RandAugment turns colour jitter off, as in timm."""
    options = from_timm_args(timm_args(
        mixup=0.8, cutmix=1.0, aa="rand-m9-mstd0.5-inc1", reprob=0.25, remode="pixel", smoothing=0.1,
        train_interpolation="bicubic", num_classes=1000, input_size=[3, 224, 224],
        mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]))
    assert options["mix"] == MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode="batch",
                                       label_smoothing=0.1, num_classes=1000)
    assert options["auto_augment"] == "rand-m9-mstd0.5-inc1" and options["color_jitter"] is None
    assert (options["re_prob"], options["re_mode"], options["re_count"]) == (0.25, "pixel", 1)
    assert options["interpolation"] == "bicubic" and options["image_size"] == 224
    assert options["mean"] == (0.5, 0.5, 0.5) and options["std"] == (0.5, 0.5, 0.5)


def test_mixing_options() -> None:
    options = from_timm_args(timm_args(cutmix_minmax=[0.2, 0.8], mixup_prob=0.5, mixup_switch_prob=0.3,
                                       mixup_mode="elem", smoothing=0.0, num_classes=10))
    assert options["mix"] == MixConfig(mixup_alpha=0.0, cutmix_alpha=0.0, cutmix_minmax=(0.2, 0.8), prob=0.5,
                                       switch_prob=0.3, mode="elem", label_smoothing=0.0, num_classes=10)


def test_a_namespace_without_newer_options_takes_timms_defaults() -> None:
    options = from_timm_args(argparse.Namespace(mixup=0.2, num_classes=5, img_size=160))
    assert options["mix"].mixup_alpha == 0.2 and options["color_jitter"] == 0.4
    assert options["image_size"] == 160 and options["re_mode"] == "pixel"


def test_options_reach_train_pipeline(make_image_folder) -> None:
    """The options are train_pipeline's: it takes them and validates them."""
    from pipelines import train_pipeline

    image_dir = make_image_folder([4, 4])
    spec = train_pipeline(image_dir, batch_size=4, **from_timm_args(timm_args(
        mixup=0.8, cutmix=1.0, aa="rand-m9-mstd0.5-inc1", reprob=0.25, num_classes=1000, img_size=64)))
    assert spec.graph.auto_augment == "rand-m9-mstd0.5-inc1" and spec.graph.re_prob == 0.25
    with pytest.raises(ValueError, match="auto_augment"):
        train_pipeline(image_dir, batch_size=4, **from_timm_args(timm_args(aa="rand-m9-tweights")))


@pytest.mark.parametrize("change, message", [
    (dict(vflip=0.5), "--vflip: not supported"),
    (dict(no_aug=True), "--no-aug: not supported"),
    (dict(aug_splits=2), "--aug-splits: not supported"),
    (dict(jsd_loss=True), "--jsd-loss: not supported"),
    (dict(color_jitter_prob=0.8), "--color-jitter-prob: not supported"),
    (dict(grayscale_prob=0.2), "--grayscale-prob: not supported"),
    (dict(train_crop_mode="rkrr"), "--train-crop-mode: not supported"),
    (dict(mixup=0.8), "--num-classes: timm takes it from the model"),
    (dict(input_size=[3, 224, 192]), "--input-size: expected C H W with H == W"),
    (dict(train_interpolation="lanczos"), "--train-interpolation: expected one of bilinear, bicubic, random, got 'lanczos'"),
])
def test_refused(change, message) -> None:
    with pytest.raises(ValueError) as error:
        from_timm_args(timm_args(**change))
    assert message in str(error.value)


def test_rrc_crop_mode_is_ours() -> None:
    assert from_timm_args(timm_args(train_crop_mode="rrc"))["scale"] == (0.08, 1.0)
