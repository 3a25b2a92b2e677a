"""timm's auto-augment strings: what each parses to (against timm's own tables where timm imports),
and every string refused, with the part named."""

from __future__ import annotations

import math

import pytest

from dali_mixup.augment_ops import Op
from dali_mixup.policy import (TIMM_OPS, TRIVIAL_OPS, AutoAugment, RandAugment, TrivialAugment,
                               parse_auto_augment, trivial_parameter)

INCREASING = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
              "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing",
              "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")


def timm_aa():
    return pytest.importorskip("timm.data.auto_augment", reason="timm is not installed")


def test_convnext_recipe() -> None:
    policy = parse_auto_augment("rand-m9-mstd0.5-inc1")
    assert policy == RandAugment(ops=tuple(TIMM_OPS[n] for n in INCREASING), num_layers=2, magnitude=9.0,
                                 magnitude_std=0.5, magnitude_max=10.0, prob=0.5)


@pytest.mark.parametrize("text, expected", [
    ("rand-m7-n3-p0.3", dict(magnitude=7.0, num_layers=3, prob=0.3, magnitude_std=0.0)),
    ("rand-n1", dict(magnitude=10.0, num_layers=1)),
    ("rand-m15-mmax20", dict(magnitude=15.0, magnitude_max=20.0)),
    ("rand-m9-mmax0", dict(magnitude_max=10.0)),  # timm: "magnitude_max or 10"
    ("rand-m9-mstd101", dict(magnitude_std=math.inf)),  # above 100: uniform in [0, m]
    ("rand-m9-mstd100", dict(magnitude_std=100.0)),
    ("rand-inc0-m5", dict(magnitude=5.0)),
])
def test_rand_sections(text, expected) -> None:
    policy = parse_auto_augment(text)
    for name, value in expected.items():
        assert getattr(policy, name) == value, name
    if "inc1" not in text:
        assert "Posterize" in [name for name, op in TIMM_OPS.items() if op == policy.ops[4]]


@pytest.mark.parametrize("text", ["rand-m9-mstd0.5-inc1", "rand-m7-n3-p0.3", "rand-m15-mmax20-mstd101", "rand-n1"])
def test_rand_matches_timm(text) -> None:
    aa = timm_aa()
    timm = aa.rand_augment_transform(text, dict(translate_const=100, img_mean=(124, 116, 104)))
    ours = parse_auto_augment(text)
    assert ours.ops == tuple(TIMM_OPS[op.name] for op in timm.ops)
    assert ours.num_layers == timm.num_layers and timm.choice_weights is None
    for op in timm.ops:
        assert (op.prob, op.magnitude) == (ours.prob, ours.magnitude)
        assert op.magnitude_std == ours.magnitude_std
        assert (op.magnitude_max or 10) == ours.magnitude_max


@pytest.mark.parametrize("name", ["original", "originalr", "v0", "v0r"])
def test_auto_policies_match_timm(name) -> None:
    aa = timm_aa()
    timm = aa.auto_augment_transform(name + "-mstd0.5", dict(translate_const=100, img_mean=(124, 116, 104)))
    ours = parse_auto_augment(name + "-mstd0.5")
    assert isinstance(ours, AutoAugment) and ours.magnitude_std == 0.5
    assert ours.sub_policies == tuple(tuple((TIMM_OPS[op.name], op.prob, op.magnitude) for op in sub)
                                      for sub in timm.policy)


def test_auto_policies_shape() -> None:
    """Without timm: 25 sub-policies of two steps each; the 'r' variants differ from theirs only
    in Posterize becoming PosterizeIncreasing."""
    for name in ("original", "v0"):
        plain, research = parse_auto_augment(name), parse_auto_augment(name + "r")
        assert len(plain.sub_policies) == 25 and all(len(sub) == 2 for sub in plain.sub_policies)
        for sub, sub_r in zip(plain.sub_policies, research.sub_policies):
            for (op, p, m), (op_r, p_r, m_r) in zip(sub, sub_r):
                assert (p, m) == (p_r, m_r)
                posterize = op in (Op.POSTERIZE, Op.POSTERIZE_ORIGINAL)
                assert op_r == (Op.POSTERIZE_INCREASING if posterize else op)
    assert parse_auto_augment("original").sub_policies[0] == ((Op.POSTERIZE_ORIGINAL, 0.4, 8.0),
                                                             (Op.ROTATE, 0.6, 9.0))
    assert parse_auto_augment("v0").magnitude_std == 0.0


def test_trivial_augment_tables() -> None:
    """torchvision's TrivialAugmentWide bins (its _augmentation_space, num_bins=31)."""
    assert parse_auto_augment("ta_wide") == TrivialAugment()
    ops = {op: (top, signed) for op, top, signed in TRIVIAL_OPS}
    assert len(ops) == 14 and Op.IDENTITY in ops
    assert [trivial_parameter(Op.POSTERIZE_BITS, 0, i) for i in (0, 2, 3, 5, 7, 8, 30)] == [8, 8, 7, 7, 7, 6, 2]
    assert trivial_parameter(Op.SOLARIZE_THRESHOLD, 0, 0) == 255 and trivial_parameter(Op.SOLARIZE_THRESHOLD, 0, 30) == 0
    assert trivial_parameter(Op.ROTATE_DEGREES, 135.0, 30) == 135.0
    assert trivial_parameter(Op.ROTATE_DEGREES, 135.0, 10) == pytest.approx(45.0)
    # float32's 15 * (32 / 30) is 15.999999, truncated as int() does.
    assert trivial_parameter(Op.TRANSLATE_X_PIXELS, 32.0, 15) == 15.0
    assert trivial_parameter(Op.TRANSLATE_X_PIXELS, 32.0, 16) == 17.0
    assert trivial_parameter(Op.SHEAR_X_FACTOR, 0.99, 30) == pytest.approx(0.99)


def test_trivial_augment_matches_torchvision() -> None:
    transforms = pytest.importorskip("torchvision.transforms", reason="torchvision is not installed")
    space = transforms.TrivialAugmentWide()._augmentation_space(31)
    names = {Op.SHEAR_X_FACTOR: "ShearX", Op.SHEAR_Y_FACTOR: "ShearY", Op.TRANSLATE_X_PIXELS: "TranslateX",
             Op.TRANSLATE_Y_PIXELS: "TranslateY", Op.ROTATE_DEGREES: "Rotate", Op.BRIGHTNESS_FACTOR: "Brightness",
             Op.COLOR_FACTOR: "Color", Op.CONTRAST_FACTOR: "Contrast", Op.SHARPNESS_FACTOR: "Sharpness",
             Op.POSTERIZE_BITS: "Posterize", Op.SOLARIZE_THRESHOLD: "Solarize", Op.AUTO_CONTRAST: "AutoContrast",
             Op.EQUALIZE: "Equalize", Op.IDENTITY: "Identity"}
    assert sorted(space) == sorted(names.values())
    for op, top, signed in TRIVIAL_OPS:
        magnitudes, their_signed = space[names[op]]
        assert signed == their_signed, op
        if magnitudes.ndim == 0:
            continue
        for i in range(31):
            theirs = float(magnitudes[i])
            if op in (Op.TRANSLATE_X_PIXELS, Op.TRANSLATE_Y_PIXELS):
                theirs = float(int(theirs))
            assert trivial_parameter(op, top, i) == theirs, (op, i)


@pytest.mark.parametrize("text, message", [
    ("", "expected a policy string"),
    ("randaugment", "'randaugment': unknown policy"),
    ("rand-m11", "'m11': magnitude 11 exceeds the upper bound 10"),
    ("rand-m21-mmax20", "'m21': magnitude 21 exceeds the upper bound 20"),
    ("rand-m9.5", "'m9.5': expected an integer"),
    ("rand-p1.5", "'p1.5': expected a value in [0, 1], got 1.5"),
    ("rand-n-1", "'n': expected a section such as"),
    ("rand-x5", "'x5': unknown RandAugment section"),
    ("rand-m9-m8", "'m8': 'm' given twice"),
    ("rand-mstd-1", "'mstd': expected a section such as"),
    ("rand-tweights", "'tweights': RandAugment's transform sets"),
    ("rand-m9-t3a", "'t3a': RandAugment's transform sets"),
    ("rand-inc2", "'inc2': expected a value in [0, 1], got 2"),
    ("original-m3", "'m3': unknown AutoAugment section"),
    ("v0-mstdx", "'mstdx': expected a section such as"),
    ("augmix-m5-w4-d2", "'augmix': AugMix"),
    ("3a", "'3a': the '3a' policy"),
    ("ta_wide-m9", "'m9': TrivialAugment-wide takes no sections"),
])
def test_refused(text, message) -> None:
    with pytest.raises(ValueError, match="auto_augment") as error:
        parse_auto_augment(text)
    assert message in str(error.value)


def test_refused_types() -> None:
    for value in (None, 9, ["rand-m9"]):
        with pytest.raises(ValueError, match="auto_augment: expected a policy string"):
            parse_auto_augment(value)
