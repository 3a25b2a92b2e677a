"""The CutMix box, lam and Mixup's uint8 rounding against timm 1.0.31's own formulas
(``timm/data/mixup.py``: ``rand_bbox``, ``rand_bbox_minmax``, ``cutmix_bbox_and_lam``,
``FastCollateMixup``), on chosen draws that reach every class of box: odd and even sides and
cuts, centres on the first and last pixel, lam near 0 and 1, minmax boxes on the bottom and
right edges, H != W."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nvidia.dali import types

from _mixrun import DEVICES, Draws, class_ids, inject, random_images, run_mix, smooth_one_hot
from dali_mixup import MixConfig

LAST = float(np.nextafter(np.float32(1), np.float32(0)))  # the largest uniform draw below 1
CENTRES = [0.0, 0.5, LAST]  # the first pixel, the middle, the last pixel
SIZES = [(7, 10), (10, 7), (8, 8), (9, 9), (1, 6), (224, 160)]


# ------------------------------------------------------------------ timm 1.0.31, randomness replaced


def randint(low: int, high: int, v: float) -> int:
    """numpy's ``randint(low, high)`` with the uniform draw ``v`` in [0, 1) given. (numpy
    refuses low == high, where a minmax range is empty; the stage takes ``low``.)"""
    return low + math.floor(v * (high - low))


def rand_bbox(img_shape, lam, v):
    ratio = np.sqrt(1 - lam)
    img_h, img_w = img_shape[-2:]
    cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
    cy = randint(0, img_h, v[0])
    cx = randint(0, img_w, v[1])
    yl = np.clip(cy - cut_h // 2, 0, img_h)
    yh = np.clip(cy + (cut_h + 1) // 2, 0, img_h)
    xl = np.clip(cx - cut_w // 2, 0, img_w)
    xh = np.clip(cx + (cut_w + 1) // 2, 0, img_w)
    return yl, yh, xl, xh


def rand_bbox_minmax(img_shape, minmax, v):
    img_h, img_w = img_shape[-2:]
    cut_h = randint(int(img_h * minmax[0]), int(img_h * minmax[1]), v[0])
    cut_w = randint(int(img_w * minmax[0]), int(img_w * minmax[1]), v[1])
    yl = randint(0, img_h - cut_h + 1, v[2])
    xl = randint(0, img_w - cut_w + 1, v[3])
    yu = yl + cut_h
    xu = xl + cut_w
    return yl, yu, xl, xu


def cutmix_bbox_and_lam(img_shape, lam, v, ratio_minmax=None, correct_lam=True):
    if ratio_minmax is not None:
        yl, yu, xl, xu = rand_bbox_minmax(img_shape, ratio_minmax, v)
    else:
        yl, yu, xl, xu = rand_bbox(img_shape, lam, v)
    if correct_lam or ratio_minmax is not None:
        bbox_area = (yu - yl) * (xu - xl)
        lam = 1. - bbox_area / float(img_shape[-2] * img_shape[-1])
    return (yl, yu, xl, xu), lam


# ------------------------------------------------------------------ cases


def lams_for(size: tuple[int, int]) -> list[float]:
    """float32 lams giving every cut 0..S of both sides (mid-way between two cuts and on
    each boundary, where S * sqrt(1 - lam) is an integer up to rounding), and the ends."""
    lams = {0.0, 1e-7, 0.5, 0.75, 0.36, 1 - 2**-24, LAST}
    for side in size[:2] if max(size) <= 16 else ():
        for k in range(side + 1):
            lams.add(1 - ((k + 0.5) / side) ** 2)
            lams.add(1 - (k / side) ** 2)
    return sorted({float(np.float32(x)) for x in lams if 0 <= np.float32(x) < 1})


def box_draws(config: MixConfig) -> list[tuple[float, ...]]:
    """The box draws of every case: (centre H, centre W), or minmax (side H, side W,
    position H, position W)."""
    if config.cutmix_minmax is None:
        return [(a, b) for a in CENTRES for b in CENTRES]
    return [(a, b, c, d) for a in CENTRES for b in (0.0, LAST) for c in CENTRES for d in (0.0, LAST)]


def uniform_rows(config: MixConfig, boxes: list[tuple[float, ...]], switch: list[float] | None) -> np.ndarray:
    """[apply (0: mixed), switch?, box draws, fallback] per sample."""
    rows = []
    for i, v in enumerate(boxes):
        rows.append([0.0, *([switch[i]] if switch is not None else []), *v, 0.5])
    return np.array(rows, dtype=np.float32)


def reference(config: MixConfig, size: tuple[int, int], lam: float, v: tuple[float, ...]):
    """(box (top, left, height, width), float32 lam) as timm computes them, with a
    Python-float lam (as timm's batch mode has it)."""
    (yl, yu, xl, xu), ref_lam = cutmix_bbox_and_lam(size, lam, v, ratio_minmax=config.cutmix_minmax,
                                                    correct_lam=config.correct_lam)
    return np.array([yl, xl, yu - yl, xu - xl]), np.float32(ref_lam)


def run_cases(monkeypatch, config: MixConfig, size: tuple[int, int], device: str, *,
              switch_prob_draws: bool = False):
    """Every (lam, box draws) case as one sample of an elem-mode batch, each mixed with the
    next; returns the run, the lams, the box draws and the images."""
    boxes = box_draws(config)
    lams = [0.5] if config.cutmix_minmax is not None else lams_for(size)
    cases = [(lam, v) for lam in lams for v in boxes]
    n = len(cases)
    switch = [0.25, 0.75] * (n // 2) + [0.25] * (n % 2) if switch_prob_draws else None
    draws = Draws(uniform=uniform_rows(config, [v for _, v in cases], switch),
                  permutation=np.roll(np.arange(n, dtype=np.int32), -1),
                  beta_mixup=np.full(n, 0.375, np.float32) if config.uses_mixup else None,
                  beta_cutmix=(np.array([lam for lam, _ in cases], np.float32)
                               if config.cutmix_minmax is None else None))
    inject(monkeypatch, draws)
    images = random_images(n, shape=(*size, 2))
    (r,) = run_mix(images, class_ids(n), config, device=device, layout="HWC")
    return r, cases, images


def assert_matches_timm(r, cases, images, config: MixConfig, size: tuple[int, int]) -> set[str]:
    """Box, lam, partner, targets and pixels of every sample against the reference; returns
    the classes of box seen."""
    n = len(cases)
    seen = set()
    for i, (lam, v) in enumerate(cases):
        j = (i + 1) % n
        assert r.partner[i] == j
        if not r.cutmix[i]:  # Mixup, chosen by the switch draw
            assert r.lam[i] == np.float32(0.375) and not r.box[i].any()
            continue
        box, ref_lam = reference(config, size, lam, v)
        np.testing.assert_array_equal(r.box[i], box, err_msg=f"sample {i}: lam={lam!r}, draws={v}")
        assert r.lam[i] == ref_lam, (i, lam, v, r.lam[i], ref_lam)
        top, left, h, w = box
        expected = images[i].astype(np.float32)
        expected[top:top + h, left:left + w] = images[j][top:top + h, left:left + w]
        np.testing.assert_array_equal(r.images[i], expected)
        target = (np.float32(r.lam[i]) * smooth_one_hot(i, config).astype(np.float32)
                  + (np.float32(1) - np.float32(r.lam[i])) * smooth_one_hot(j, config).astype(np.float32))
        np.testing.assert_allclose(r.targets[i], target, rtol=1e-6, atol=1e-7)
        seen |= box_classes(config, size, lam, v, box)
    return seen


def box_classes(config: MixConfig, size: tuple[int, int], lam: float, v, box) -> set[str]:
    top, left, h, w = box
    found = set()
    for axis, (start, side, full) in enumerate(((top, h, size[0]), (left, w, size[1]))):
        name = "HW"[axis]
        if start == 0:
            found.add(f"{name} at the first pixel")
        if start + side == full:
            found.add(f"{name} at the last pixel")
        if config.cutmix_minmax is None:
            cut = int(full * np.sqrt(1 - lam))
            found.add(f"{name} cut {'odd' if cut % 2 else 'even'}")
            if side == 0:
                found.add(f"{name} empty")
            if start + side < full and start > 0:
                found.add(f"{name} inside")
    return found


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("correct_lam", [True, False], ids=["correct-lam", "drawn-lam"])
def test_box_and_lam_from_lam_are_timms(monkeypatch, size, correct_lam, device) -> None:
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem", correct_lam=correct_lam,
                       num_classes=2000, label_smoothing=0.1)
    r, cases, images = run_cases(monkeypatch, config, size, device)
    seen = assert_matches_timm(r, cases, images, config, size)
    for name, side in zip("HW", size):
        assert {f"{name} at the first pixel", f"{name} at the last pixel", f"{name} cut odd",
                f"{name} cut even", f"{name} empty"} <= seen, seen
        assert (f"{name} inside" in seen) == (side > 2), seen


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("minmax", [(0.2, 0.6), (0.7, 0.9), (0.3, 1.0), (0.1, 0.15)],
                         ids=["mid", "products-need-double", "up-to-the-whole-side", "narrow"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_minmax_box_is_timms_and_reaches_the_bottom_and_right_edges(monkeypatch, size, minmax,
                                                                    device) -> None:
    """timm draws the corner over S - side + 1 positions: the box can end on the last row
    and column. int(S * lo) in double: 10 * 0.7 is 7 (in float32, 6.9999...)."""
    config = MixConfig(mixup_alpha=0.0, cutmix_minmax=minmax, mode="elem", num_classes=2000)
    r, cases, images = run_cases(monkeypatch, config, size, device)
    seen = assert_matches_timm(r, cases, images, config, size)
    assert {f"{axis} at the {end} pixel" for axis in "HW" for end in ("first", "last")} <= seen


@pytest.mark.parametrize("device", DEVICES)
def test_mixup_and_cutmix_together_read_the_switch_then_the_box_draws(monkeypatch, device) -> None:
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, switch_prob=0.5, mode="elem", num_classes=2000)
    r, cases, images = run_cases(monkeypatch, config, (7, 10), device, switch_prob_draws=True)
    assert_matches_timm(r, cases, images, config, (7, 10))
    assert r.cutmix.tolist() == [1, 0] * (len(cases) // 2) + [1] * (len(cases) % 2)


# ------------------------------------------------------------------ distributions


def expected_area(side: int, *, halves_rounded_down: bool) -> float:
    """The mean pasted area fraction of a square image for lam ~ Uniform(0, 1): timm's box,
    or the earlier box of side 2 * floor(cut / 2); by integration over lam and every centre."""
    lam = (np.arange(20_000) + 0.5) / 20_000
    cut = np.floor(side * np.sqrt(1 - lam))[:, None]
    centre = np.arange(side)[None]
    if halves_rounded_down:
        low, high = np.maximum(centre - cut // 2, 0), np.minimum(centre + cut // 2, side)
    else:
        low, high = np.clip(centre - cut // 2, 0, side), np.clip(centre + (cut + 1) // 2, 0, side)
    return float(((high - low).mean(axis=1) ** 2).mean() / side**2)


@pytest.mark.parametrize("device", ["cpu", "cpu-composed"])
@pytest.mark.parametrize("side", [16, 224])
def test_mean_pasted_area_for_uniform_lam_is_timms(side, device) -> None:
    """About 0.32 at 224 pixels (0.3193; the box of side 2 * floor(cut / 2) gave 0.3178);
    at 16 pixels the two are far apart: 0.2998 against 0.2773."""
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem", num_classes=512)
    batch, iterations = 512, 8
    runs = run_mix(random_images(batch, shape=(side, side, 1)), class_ids(batch), config,
                   device=device, iterations=iterations, layout="HWC")
    area = np.concatenate([r.box[:, 2] * r.box[:, 3] for r in runs]) / side**2
    error = area.std() / np.sqrt(area.size)
    timm = expected_area(side, halves_rounded_down=False)
    assert abs(area.mean() - timm) < 4 * error, (area.mean(), timm)
    if side == 224:
        assert timm == pytest.approx(0.3193, abs=2e-4)
    else:
        assert abs(area.mean() - expected_area(side, halves_rounded_down=True)) > 4 * error
    np.testing.assert_allclose(np.concatenate([r.lam for r in runs]), 1 - area, rtol=1e-6)


@pytest.mark.parametrize("device", ["cpu", "cpu-composed"])
def test_without_correct_lam_the_area_is_1_minus_lam_within_the_truncation(device) -> None:
    """cut = int(S * sqrt(1 - lam)) on both sides: an unclipped box covers at most 1 - lam of
    the image and more than (H * r - 1) * (W * r - 1), r = sqrt(1 - lam) (where both
    factors are positive)."""
    batch, (h, w) = 512, (21, 30)
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem", correct_lam=False,
                       num_classes=batch)
    (r,) = run_mix(random_images(batch, shape=(h, w, 1)), class_ids(batch), config, device=device)
    ratio = np.sqrt(1 - r.lam.astype(np.float64))
    area = r.box[:, 2] * r.box[:, 3]
    assert np.all(area <= (1 - r.lam.astype(np.float64)) * h * w + 1e-6)
    unclipped = (r.box[:, 2] == np.floor(h * ratio)) & (r.box[:, 3] == np.floor(w * ratio))
    assert unclipped.sum() > batch // 8
    short = np.maximum(h * ratio[unclipped] - 1, 0) * np.maximum(w * ratio[unclipped] - 1, 0)
    assert np.all((area[unclipped] > short) | (short == 0))
    # Odd cuts are whole: the box of side 2 * floor(cut / 2) was one pixel short of them.
    assert np.any(unclipped & (r.box[:, 2] % 2 == 1)) and np.any(unclipped & (r.box[:, 3] % 2 == 1))


# ------------------------------------------------------------------ uint8 rounding


@pytest.mark.parametrize("device", DEVICES)
def test_uint8_mixup_rounds_half_to_even_as_fast_collate_mixup(monkeypatch, device) -> None:
    """lam 0.5 blends of neighbouring values land on halves: np.rint takes them to the even
    neighbour (1.5 -> 2, 2.5 -> 2, 0.5 -> 0, 3.5 -> 4, 254.5 -> 254), where DALI's cast would
    round them away from zero."""
    config = MixConfig(mixup_alpha=1.0, mode="batch", num_classes=2)
    inject(monkeypatch, Draws(uniform=np.array([[0.0, 0.5]] * 2, np.float32),
                              permutation=np.array([1, 0], np.int32),
                              beta_mixup=np.full(2, 0.5, np.float32)))
    first = np.array([1, 2, 0, 3, 254, 7, 100], np.uint8).reshape(1, 7, 1)
    second = np.array([2, 3, 1, 4, 255, 7, 103], np.uint8).reshape(1, 7, 1)
    (r,) = run_mix([first, second], class_ids(2), config, device=device, layout="HWC",
                   dtype=types.UINT8)
    blend = np.rint(first.astype(np.float32) * 0.5 + second.astype(np.float32) * 0.5)
    assert blend.ravel().tolist() == [2, 2, 0, 4, 254, 7, 102]
    assert r.lam.tolist() == [0.5, 0.5]
    np.testing.assert_array_equal(r.images[0], blend.astype(np.uint8))
    np.testing.assert_array_equal(r.images[1], blend.astype(np.uint8))
