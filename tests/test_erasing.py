"""timm's RandomErasing (dali_mixup.erasing) on the CPU: the operator's boxes against a plain
transcription of timm's ``_erase`` fed the same uniforms, box for box; the distributions of
areas, aspects, counts and erased shares against timm's own algorithm driven by Python's
``random``; the fills of each mode; float16 and both layouts; seeds; edge sizes; every bad
input and option."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def
from scipy import stats

from dali_mixup import MixInputError, native, translate_errors
from dali_mixup.erasing import ATTEMPTS, DRAWS_PER_ATTEMPT, Erasing, _count, random_erasing

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason="the CPU operators are not built")

MODES = {"const": 0, "rand": 1, "pixel": 2}
# Significance of the statistical comparisons: a false alarm in about one run in a thousand
# per test, on a seeded (so repeatable) draw.
ALPHA = 1e-3


def run_pipe(graph) -> list[np.ndarray]:
    pipe = graph()
    with translate_errors():  # an argument's check fails in build()
        pipe.build()
        (out,) = pipe.run()
    return [np.asarray(out[i]) for i in range(len(out))]


def erase(images, counts, draws, keys, *, layout="HWC", mode=0, **options) -> list[np.ndarray]:
    """The operator's output for one batch, every draw given."""

    @pipeline_def(batch_size=len(images), num_threads=2, device_id=None, seed=1)
    def graph():
        x = fn.external_source(source=lambda: images, layout=layout, batch=True)
        count = fn.external_source(source=lambda: [np.asarray(c, dtype=np.int32) for c in counts], batch=True)
        u = fn.external_source(source=lambda: draws, batch=True)
        key = fn.external_source(source=lambda: [np.asarray(k) for k in keys], batch=True)
        return fn.dali_mixup_erase(x, count, u, key, layout=layout, mode=mode, **options)

    return run_pipe(graph)


def erase_random(images, erasing: Erasing, *, layout="HWC", seed=5) -> list[np.ndarray]:
    """random_erasing's output for one batch of ``images``."""

    @pipeline_def(batch_size=len(images), num_threads=2, device_id=None, seed=seed)
    def graph():
        x = fn.external_source(source=lambda: images, layout=layout, batch=True)
        return random_erasing(x, erasing, layout=layout)

    return run_pipe(graph)


def timm_boxes(u: np.ndarray, count: int, H: int, W: int) -> list[tuple[int, int, int, int]]:
    """timm's ``_erase`` with its defaults, transcribed, where random.uniform(a, b) is
    a + (b - a) * u and random.randint(0, n) is floor(u * (n + 1)): (top, left, h, w) per box."""
    boxes = []
    log_aspect = (math.log(0.3), math.log(1 / 0.3))
    for k in range(count):
        for attempt in range(ATTEMPTS):
            ua, ur, ut, ul = (float(v) for v in u[k, attempt])
            target_area = (0.02 + (1 / 3 - 0.02) * ua) * (H * W) / count
            aspect = math.exp(log_aspect[0] + (log_aspect[1] - log_aspect[0]) * ur)
            h = int(round(math.sqrt(target_area * aspect)))
            w = int(round(math.sqrt(target_area / aspect)))
            if w < W and h < H:
                boxes.append((min(int(ut * (H - h + 1)), H - h), min(int(ul * (W - w + 1)), W - w), h, w))
                break
    return boxes


def timm_sample(rng: random.Random, prob: float, max_count: int, H: int, W: int):
    """timm's ``_erase`` itself, on Python's ``random``: the boxes of one image."""
    if rng.random() > prob:
        return []
    count = rng.randint(1, max_count)
    boxes = []
    for _ in range(count):
        for _ in range(ATTEMPTS):
            target_area = rng.uniform(0.02, 1 / 3) * H * W / count
            aspect = math.exp(rng.uniform(math.log(0.3), math.log(1 / 0.3)))
            h = int(round(math.sqrt(target_area * aspect)))
            w = int(round(math.sqrt(target_area / aspect)))
            if w < W and h < H:
                boxes.append((rng.randint(0, H - h), rng.randint(0, W - w), h, w))
                break
    return boxes


def box_mask(shape_hw, boxes) -> np.ndarray:
    mask = np.zeros(shape_hw, dtype=bool)
    for top, left, h, w in boxes:
        mask[top:top + h, left:left + w] = True
    return mask


def uniforms(rng: np.random.Generator, max_count: int) -> np.ndarray:
    return rng.random((max_count, ATTEMPTS, DRAWS_PER_ATTEMPT), dtype=np.float32)


# Ragged: edge sizes (1x1 and 1xN never fit a box), odd sizes, small ones where tries fail.
SIZES = [(1, 1), (1, 9), (9, 1), (2, 2), (3, 5), (7, 13), (31, 17), (64, 80), (224, 224), (101, 333)]


def test_boxes_match_timm_exactly():
    rng = np.random.default_rng(0)
    shapes = [SIZES[i % len(SIZES)] for i in range(60)]
    images = [rng.standard_normal((h, w, 3)).astype(np.float32) + 10 for h, w in shapes]
    draws = [uniforms(rng, 4) for _ in shapes]
    counts = [int(c) for c in rng.integers(0, 5, len(shapes))]
    outs = erase(images, counts, draws, [np.uint32(i) for i in range(len(shapes))])
    for image, out, u, count, (h, w) in zip(images, outs, draws, counts, shapes):
        mask = box_mask((h, w), timm_boxes(u, count, h, w))
        assert out.shape == image.shape and out.dtype == np.float32
        np.testing.assert_array_equal(out[mask], 0, f"{h}x{w} count {count}")
        np.testing.assert_array_equal(out[~mask], image[~mask], f"{h}x{w} count {count}")


def test_one_large_image_and_a_batch_of_one():
    rng = np.random.default_rng(1)
    image = rng.standard_normal((2000, 1500, 3)).astype(np.float32) + 10
    u = uniforms(rng, 2)
    (out,) = erase([image], [2], [u], [np.int32(-5)], mode=MODES["pixel"])
    mask = box_mask((2000, 1500), timm_boxes(u, 2, 2000, 1500))
    assert mask.any()
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert np.all(np.abs(out[mask]) < 9)  # noise everywhere inside, nothing left of the +10 images


def test_edge_sizes_are_never_erased():
    images = [np.ones(s + (3,), np.float32) for s in [(1, 1), (1, 50), (50, 1)] * 20]
    for out in erase_random(images, Erasing(prob=1.0, mode="pixel", count=3)):
        np.testing.assert_array_equal(out, 1)


def erased_stats(outs) -> tuple[np.ndarray, np.ndarray]:
    """Erased area fraction of each image and h / w of its (single) box, where erased."""
    fractions, aspects = [], []
    for out in outs:
        mask = (out == 0).all(axis=2)
        fractions.append(mask.mean())
        if mask.any():
            aspects.append(mask.any(axis=1).sum() / mask.any(axis=0).sum())
    return np.array(fractions), np.array(aspects)


def timm_stats(boxes_per_image, H, W):
    fractions = np.array([box_mask((H, W), b).mean() for b in boxes_per_image])
    aspects = np.array([b[0][2] / b[0][3] for b in boxes_per_image if b and b[0][2] and b[0][3]])
    return fractions, aspects


def test_areas_and_aspects_follow_timm():
    H, W, n = 48, 64, 2000
    images = [np.ones((H, W, 3), np.float32)] * 250
    outs = [o for seed in range(n // 250) for o in erase_random(images, Erasing(prob=1.0, mode="const"), seed=seed)]
    rng = random.Random(0)
    ours, theirs = erased_stats(outs), timm_stats([timm_sample(rng, 1.0, 1, H, W) for _ in range(n)], H, W)
    for name, a, b in zip(("area fraction", "aspect"), ours, theirs):
        assert stats.ks_2samp(a, b).pvalue > ALPHA, name


def test_erased_share_for_prob_a_quarter():
    images = [np.ones((40, 40, 3), np.float32)] * 250
    outs = [o for seed in range(8) for o in erase_random(images, Erasing(prob=0.25, mode="const"), seed=seed)]
    erased = sum(bool((o == 0).any()) for o in outs)
    rng = random.Random(1)
    # timm places a box (every try fails but rarely) in this share of the erased images.
    placed = np.mean([bool(timm_sample(rng, 1.0, 1, 40, 40)) for _ in range(20000)])
    assert stats.binomtest(erased, len(outs), 0.25 * placed).pvalue > ALPHA


def test_count_is_uniform_from_one_to_count():
    @pipeline_def(batch_size=500, num_threads=2, device_id=None, seed=3)
    def graph():
        return _count(Erasing(prob=0.5, count=3))

    pipe = graph()
    pipe.build()
    counts = np.concatenate([np.array([int(np.asarray(c)) for c in pipe.run()[0]]) for _ in range(6)])
    observed = np.bincount(counts, minlength=4)
    assert observed.sum() == len(counts) == 3000
    assert stats.chisquare(observed, len(counts) * np.array([3, 1, 1, 1]) / 6).pvalue > ALPHA


def test_several_boxes_follow_timm():
    H, W = 56, 56
    images = [np.ones((H, W, 3), np.float32)] * 250
    outs = [o for seed in range(8) for o in erase_random(images, Erasing(prob=1.0, mode="const", count=3),
                                                          seed=seed)]
    rng = random.Random(2)
    theirs = timm_stats([timm_sample(rng, 1.0, 3, H, W) for _ in range(2000)], H, W)[0]
    assert stats.ks_2samp(erased_stats(outs)[0], theirs).pvalue > ALPHA


def one_box_batch(n, H=30, W=40, mode=0, dtype=np.float32, layout="HWC"):
    """n images of 1s, one box each from seeded draws: outputs and the boxes."""
    rng = np.random.default_rng(4)
    draws = [uniforms(rng, 1) for _ in range(n)]
    images = [np.ones((H, W, 3) if layout == "HWC" else (3, H, W), dtype)] * n
    outs = erase(images, [1] * n, draws, [np.uint32(1000 + i) for i in range(n)], layout=layout, mode=mode)
    return outs, [timm_boxes(u, 1, H, W)[0] for u in draws]


def test_rand_fills_each_box_with_a_normal_color_per_channel():
    outs, boxes = one_box_batch(300, mode=MODES["rand"])
    colors = []
    for out, (top, left, h, w) in zip(outs, boxes):
        inside = out[top:top + h, left:left + w].reshape(-1, 3)
        np.testing.assert_array_equal(inside, np.broadcast_to(inside[0], inside.shape))
        np.testing.assert_array_equal(box_mask(out.shape[:2], [(top, left, h, w)]), (out != 1).any(axis=2))
        colors.extend(inside[0])
    assert stats.kstest(colors, "norm").pvalue > ALPHA
    assert len(set(colors)) == len(colors)


def test_pixel_fills_every_element_with_independent_normals():
    outs, boxes = one_box_batch(40, mode=MODES["pixel"])
    values, pairs = [], []
    for out, (top, left, h, w) in zip(outs, boxes):
        inside = out[top:top + h, left:left + w]
        values.append(inside.ravel())
        pairs.append(np.stack([inside[:, :-1].ravel(), inside[:, 1:].ravel()]))  # horizontal neighbours
    values, pairs = np.concatenate(values), np.concatenate(pairs, axis=1)
    assert stats.kstest(values, "norm").pvalue > ALPHA
    assert len(np.unique(values)) > 0.999 * len(values)
    assert abs(np.corrcoef(pairs)[0, 1]) < 4 / math.sqrt(pairs.shape[1])
    channels = np.concatenate([o[t:t + h, l:l + w].reshape(-1, 3) for o, (t, l, h, w) in zip(outs, boxes)])
    assert np.abs(np.corrcoef(channels.T) - np.eye(3)).max() < 4 / math.sqrt(len(channels))


@pytest.mark.parametrize("mode", list(MODES))
def test_float16_and_chw_give_the_same_boxes_and_values(mode):
    reference, _ = one_box_batch(20, mode=MODES[mode])
    half, _ = one_box_batch(20, mode=MODES[mode], dtype=np.float16)
    chw, _ = one_box_batch(20, mode=MODES[mode], layout="CHW")
    for ref, h16, c in zip(reference, half, chw):
        assert h16.dtype == np.float16
        np.testing.assert_array_equal(h16, ref.astype(np.float16))
        np.testing.assert_array_equal(c, ref.transpose(2, 0, 1))


def test_same_seed_same_output_other_seed_other_output():
    images = [np.ones((32, 32, 3), np.float32)] * 8
    erasing = Erasing(prob=1.0, mode="pixel", count=2)
    first, again, other = (erase_random(images, erasing, seed=s) for s in (11, 11, 12))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other))


def test_zero_prob_skips_the_operator():
    @pipeline_def(batch_size=1, num_threads=2, device_id=None)
    def graph():
        x = fn.external_source(source=lambda: [np.ones((4, 4, 3), np.float32)], batch=True)
        assert random_erasing(x, Erasing(prob=0.0), layout="HWC") is x
        return x

    graph()


def test_an_unavailable_operator_is_a_runtime_error(monkeypatch):
    monkeypatch.setattr(native, "available", lambda device="cpu": False)

    @pipeline_def(batch_size=1, num_threads=2, device_id=None)
    def graph():
        x = fn.external_source(source=lambda: [np.ones((4, 4, 3), np.float32)], batch=True)
        return random_erasing(x, Erasing(prob=0.5), layout="HWC")

    with pytest.raises(RuntimeError, match="random_erasing: the stage's CPU operators are unavailable"):
        graph()


GOOD = dict(image=np.ones((8, 8, 3), np.float32), count=1, draws=np.full((1, 10, 4), 0.5, np.float32),
            key=np.uint32(3))


@pytest.mark.parametrize("change, message", [
    (dict(image=np.ones((8, 8, 3), np.uint8)), "erase: images: expected float32 or float16, got uint8"),
    (dict(image=np.ones((8, 8), np.float32)), "erase: layout: expected images in layout HWC or CHW (3 dimensions)"),
    (dict(options=dict(layout="")), "erase: layout: expected images in layout HWC or CHW (3 dimensions), got ''"),
    (dict(draws=np.full((1, 10, 3), 0.5, np.float32)), "erase: draws: sample 0: expected shape (max_count, 10, 4)"),
    (dict(draws=np.full((0, 10, 4), 0.5, np.float32)), "erase: draws: sample 0: expected shape (max_count, 10, 4)"),
    (dict(draws=np.full((1, 10, 4), 0.5, np.float64)), "erase: draws: expected float32, got double"),
    (dict(draws=np.full((1, 10, 4), 1.5, np.float32)), "erase: draws: sample 0: expected uniforms from 0 to 1, got 1.5"),
    (dict(draws=np.full((1, 10, 4), np.nan, np.float32)), "erase: draws: sample 0: expected uniforms from 0 to 1, got"),
    (dict(count=2), "erase: count: sample 0: expected 0 to max_count=1 (the draws' first dimension), got 2"),
    (dict(count=-1), "erase: count: sample 0: expected 0 to max_count=1"),
    (dict(count=np.float32(1)), "erase: count: expected int32, got float"),
    (dict(count=np.int32([1, 1])), "erase: count: sample 0: expected one value, got shape (2)"),
    (dict(key=np.float32(1)), "erase: key: expected int32 or uint32, got float"),
    (dict(key=np.uint32([1, 2])), "erase: key: sample 0: expected one value, got shape (2)"),
])
def test_bad_inputs(change, message):
    given = {**GOOD, **change}
    image, count, options = given["image"], given["count"], given.get("options", {})

    @pipeline_def(batch_size=1, num_threads=2, device_id=None)
    def graph():
        x = fn.external_source(source=lambda: [image], batch=True)
        c = fn.external_source(source=lambda: [np.asarray(count, dtype=np.asarray(count).dtype if
                                                          isinstance(count, np.ndarray | np.generic) else np.int32)],
                               batch=True)
        u = fn.external_source(source=lambda: [given["draws"]], batch=True)
        k = fn.external_source(source=lambda: [np.asarray(given["key"])], batch=True)
        return fn.dali_mixup_erase(x, c, u, k, **{"layout": "HWC", **options})

    with pytest.raises(MixInputError) as raised:
        run_pipe(graph)
    assert str(raised.value).startswith(message), str(raised.value)


@pytest.mark.parametrize("options, message", [
    (dict(mode=3), "erase: mode: expected 0 (const), 1 (rand) or 2 (pixel), got 3"),
    (dict(layout="HW"), "erase: layout: expected 'HWC', 'CHW' or empty (the images' own), got 'HW'"),
    (dict(min_area="a"), "erase: min_area: expected a finite decimal number, got 'a'"),
    (dict(max_aspect="inf"), "erase: max_aspect: expected a finite decimal number, got 'inf'"),
    (dict(min_area="0.5", max_area="0.25"), "erase: min_area: expected 0 <= min_area <= max_area, got 0.5 and 0.25"),
    (dict(min_aspect="0"), "erase: min_aspect: expected 0 < min_aspect <= max_aspect, got 0 and 3.33333"),
])
def test_bad_arguments(options, message):
    @pipeline_def(batch_size=1, num_threads=2, device_id=None)
    def graph():
        x = fn.external_source(source=lambda: [GOOD["image"]], batch=True, layout="HWC")
        c = fn.external_source(source=lambda: [np.int32(1)], batch=True)
        u = fn.external_source(source=lambda: [GOOD["draws"]], batch=True)
        k = fn.external_source(source=lambda: [GOOD["key"]], batch=True)
        return fn.dali_mixup_erase(x, c, u, k, **options)

    with pytest.raises(MixInputError) as raised:
        run_pipe(graph)
    assert str(raised.value).startswith(message), str(raised.value)


@pytest.mark.parametrize("options, message", [
    (dict(prob=-0.1), "re_prob: expected a number in [0, 1], got -0.1"),
    (dict(prob=1.5), "re_prob: expected a number in [0, 1], got 1.5"),
    (dict(prob=float("nan")), "re_prob: expected a number in [0, 1], got nan"),
    (dict(prob=True), "re_prob: expected a number in [0, 1], got True"),
    (dict(prob="0.5"), "re_prob: expected a number in [0, 1], got '0.5'"),
    (dict(mode="x"), "re_mode: expected one of 'const', 'rand', 'pixel', got 'x'"),
    (dict(mode="Const"), "re_mode: expected one of 'const', 'rand', 'pixel', got 'Const'"),
    (dict(mode=None), "re_mode: expected one of 'const', 'rand', 'pixel', got None"),
    (dict(count=0), "re_count: expected an integer >= 1, got 0"),
    (dict(count=1.5), "re_count: expected an integer >= 1, got 1.5"),
    (dict(count=True), "re_count: expected an integer >= 1, got True"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError) as raised:
        Erasing(**options)
    assert str(raised.value) == message


def test_bad_call():
    @pipeline_def(batch_size=1, num_threads=2, device_id=None)
    def graph(erasing, layout):
        x = fn.external_source(source=lambda: [GOOD["image"]], batch=True)
        return random_erasing(x, erasing, layout=layout)

    with pytest.raises(ValueError, match="random_erasing: layout: expected 'HWC' or 'CHW', got 'HW'"):
        graph(Erasing(prob=0.5), "HW")
    with pytest.raises(ValueError, match="random_erasing: erasing: expected an Erasing, got 0.5"):
        graph(0.5, "HWC")


def test_options_are_frozen_and_keyword_only():
    erasing = Erasing(prob=np.float64(0.25), mode="rand", count=np.int64(2))
    assert (erasing.prob, erasing.mode, erasing.count) == (0.25, "rand", 2)
    assert type(erasing.prob) is float and type(erasing.count) is int
    with pytest.raises(AttributeError):
        erasing.prob = 0.5  # type: ignore[misc]
    with pytest.raises(TypeError):
        Erasing(0.5)  # type: ignore[misc]
