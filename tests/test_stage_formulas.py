"""The stage's outputs against the reference formulas, for every mode, dtype, layout and device."""

from __future__ import annotations

import numpy as np
import pytest
from nvidia.dali import types

from _mixrun import DEVICES, class_ids, random_images, run_mix, smooth_one_hot
from dali_mixup import MixConfig

MODES = ["batch", "pair", "elem"]
DTYPES = [np.uint8, np.float16, np.float32]
LAYOUTS = ["HWC", "CHW"]


def _to_layout(images: list[np.ndarray], layout: str) -> list[np.ndarray]:
    return [np.ascontiguousarray(im.transpose(2, 0, 1)) for im in images] if layout == "CHW" else images


def _box_mask(box: np.ndarray, shape: tuple[int, ...], layout: str) -> np.ndarray:
    """True inside the CutMix box, broadcastable to one image of ``layout``."""
    h, w = (shape[0], shape[1]) if layout == "HWC" else (shape[1], shape[2])
    top, left, bh, bw = box
    mask = np.zeros((h, w), dtype=bool)
    mask[top:top + bh, left:left + bw] = True
    return mask[:, :, None] if layout == "HWC" else mask[None]


def _expected_image(x: np.ndarray, xp: np.ndarray, r, i: int, layout: str) -> np.ndarray:
    x32, xp32 = x.astype(np.float32), xp.astype(np.float32)
    if r.cutmix[i]:
        return np.where(_box_mask(r.box[i], x.shape, layout), xp32, x32)
    lam = np.float32(r.lam[i])
    return x32 * lam + xp32 * (np.float32(1) - lam)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout_given, conditionals", [(True, False), (False, False), (True, True)],
                         ids=["layout-given", "layout-read", "layout-given-branching"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_outputs_match_formulas(mode, dtype, layout, layout_given, conditionals, device):
    """With DALI's conditionals enabled, the layout given and batch mode, each batch runs
    only the paste or only the blend; every way must give the same formulas."""
    batch = 7
    config = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, mode=mode, num_classes=10,
                       label_smoothing=0.1, prob=0.6)
    images = _to_layout(random_images(batch, dtype=dtype), layout)
    labels = class_ids(batch)
    out_dtype = types.FLOAT16 if dtype == np.float16 else types.FLOAT
    runs = run_mix(images, labels, config, device=device, iterations=20, image_layout=layout,
                   dtype=out_dtype, layout=layout if layout_given else None,
                   conditionals=conditionals)
    kinds = set()
    for r in runs:
        assert r.images.dtype == (np.float16 if dtype == np.float16 else np.float32)
        assert r.images.shape == (batch, *images[0].shape)
        for i in range(batch):
            j = int(r.partner[i])
            kinds.add("none" if j == i else "cutmix" if r.cutmix[i] else "mixup")
            if j == i:
                assert r.lam[i] == 1.0 and not r.cutmix[i]
            expected = _expected_image(images[i], images[j], r, i, layout)
            tol = dict(rtol=1e-3, atol=1e-3) if dtype == np.float16 else dict(rtol=1e-6, atol=1e-4)
            np.testing.assert_allclose(r.images[i].astype(np.float32), expected, **tol)
            target = r.lam[i] * smooth_one_hot(i, config) + (1 - r.lam[i]) * smooth_one_hot(j, config)
            np.testing.assert_allclose(r.targets[i], target, rtol=1e-6, atol=1e-7)
    assert kinds == {"none", "cutmix", "mixup"}, "the runs should cover every kind of mixing"


@pytest.mark.parametrize("layout", [None, "HWC", "CHW"])
@pytest.mark.parametrize("mode", MODES)
def test_cutmix_pixels_come_from_sample_or_partner_in_area_1_minus_lam(mode, layout):
    """With the layout given, CutMix alone is a pure paste; read at run time, it goes
    through the blend with weight 1: both must copy pixels exactly."""
    batch = 6
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, mode=mode, num_classes=6)
    images = random_images(batch, shape=(40, 30, 3))
    given = [np.ascontiguousarray(im.transpose(2, 0, 1)) for im in images] if layout == "CHW" else images
    for r in run_mix(given, class_ids(batch), config, iterations=5, layout=layout,
                     image_layout=layout or "HWC"):
        out = r.images.transpose(0, 2, 3, 1) if layout == "CHW" else r.images
        for i in range(batch):
            x = images[i].astype(np.float32)
            xp = images[int(r.partner[i])].astype(np.float32)
            from_self = np.all(out[i] == x, axis=-1)
            from_partner = np.all(out[i] == xp, axis=-1) & ~from_self
            assert np.all(from_self | from_partner), "every pixel comes from the sample or its partner"
            assert from_partner.mean() == pytest.approx(1 - r.lam[i], abs=1e-6)


@pytest.mark.parametrize("conditionals", [False, True], ids=["both-passes", "branching"])
@pytest.mark.parametrize("mode", MODES)
def test_uint8_output_is_the_formula_rounded(mode, conditionals):
    """Asked for uint8 (to normalize afterwards), CutMix stays exact and Mixup is rounded to
    the nearest integer."""
    batch = 7
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mode=mode, num_classes=7)
    images = random_images(batch)
    runs = run_mix(images, class_ids(batch), config, iterations=10, layout="HWC",
                   dtype=types.UINT8, conditionals=conditionals)
    cut = 0
    for r in runs:
        assert r.images.dtype == np.uint8
        for i in range(batch):
            expected = _expected_image(images[i], images[int(r.partner[i])], r, i, "HWC")
            if r.cutmix[i]:
                cut += 1
                np.testing.assert_array_equal(r.images[i], expected.astype(np.uint8))
            else:
                assert np.abs(r.images[i] - expected).max() <= 0.5 + 1e-4
    assert 0 < cut < 10 * batch


def test_cutmix_without_correct_lam_keeps_the_drawn_lam():
    batch = 64
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem", correct_lam=False,
                       num_classes=64)
    images = random_images(batch, shape=(10, 10, 1))
    r = run_mix(images, class_ids(batch), config)[0]
    area = r.box[:, 2] * r.box[:, 3] / 100.0
    # The box sides are int(S * sqrt(1 - lam)), then clipped, so the box never covers more
    # than 1 - lam: the drawn lam is at most the area-corrected one (tests/test_box_timm.py
    # has the exact boxes).
    assert np.all(r.lam <= 1 - area + 1e-6)
    assert np.any(np.abs(r.lam - (1 - area)) > 0.02)


def test_cutmix_minmax_box_sides_stay_in_range():
    batch = 64
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=0.0, cutmix_minmax=(0.2, 0.6), mode="elem",
                       num_classes=64, correct_lam=False)
    images = random_images(batch, shape=(50, 40, 3))
    r = run_mix(images, class_ids(batch), config)[0]
    top, left, h, w = r.box.T
    assert np.all((h >= 10) & (h < 30)) and np.all((w >= 8) & (w < 24))
    assert np.all((top >= 0) & (top + h <= 50) & (left >= 0) & (left + w <= 40))
    # With minmax, lam always follows the box area, as in timm.
    np.testing.assert_allclose(r.lam, 1 - h * w / 2000.0, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_targets_sum_to_one_with_at_most_two_nonzeros(mode):
    batch = 9
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mode=mode, label_smoothing=0.0,
                       num_classes=12)
    for r in run_mix(random_images(batch), class_ids(batch), config, iterations=3):
        np.testing.assert_allclose(r.targets.sum(axis=1), 1.0, atol=1e-6)
        assert np.all((r.targets > 0).sum(axis=1) <= 2)
        assert np.all(r.targets >= 0)


def test_pair_mode_partners_mix_each_other_with_complementary_weights():
    batch = 8
    config = MixConfig(mixup_alpha=1.0, mode="pair", label_smoothing=0.0, num_classes=8)
    images = random_images(batch, dtype=np.float32)
    r = run_mix(images, class_ids(batch), config)[0]
    for i in range(batch // 2):
        j = batch - 1 - i
        assert (r.partner[i], r.partner[j]) == (j, i)
        assert r.lam[i] == r.lam[j]
        # The weight of sample i in output j is the complement of its weight in output i.
        assert r.targets[i, i] + r.targets[j, i] == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(r.images[i] + r.images[j], images[i] + images[j], rtol=1e-5,
                                   atol=1e-5)


def test_soft_and_one_hot_labels_give_the_same_targets_as_class_ids():
    batch = 5
    config = MixConfig(mixup_alpha=1.0, num_classes=5, label_smoothing=0.2)
    images = random_images(batch)
    one_hot = [np.eye(5, dtype=np.float32)[i] for i in range(batch)]
    scalar_ids = class_ids(batch, shape=())
    by_id = run_mix(images, class_ids(batch), config)[0]
    by_one_hot = run_mix(images, one_hot, config)[0]
    by_scalar = run_mix(images, scalar_ids, config)[0]
    np.testing.assert_array_equal(by_id.targets, by_one_hot.targets)
    np.testing.assert_array_equal(by_id.targets, by_scalar.targets)

    soft = [np.random.default_rng(i).dirichlet(np.ones(5)).astype(np.float32) for i in range(batch)]
    r = run_mix(images, soft, config)[0]
    smooth = [s * 0.8 + 0.2 / 5 for s in soft]
    for i in range(batch):
        expected = r.lam[i] * smooth[i] + (1 - r.lam[i]) * smooth[int(r.partner[i])]
        np.testing.assert_allclose(r.targets[i], expected, rtol=1e-5)
