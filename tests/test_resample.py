"""The random-resized-crop's resample (dali_mixup.resample): on the CPU the stage's operator,
against Pillow's own ``Image.resize`` (BILINEAR / BICUBIC, the filters torchvision's
RandomResizedCrop calls on PIL images) on photo-like images at many scales, up and down, edge
sizes and channel counts; the flip; per-sample random interpolation; every bad input."""

from __future__ import annotations

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def, types
from scipy import stats

from _pillow import FILTERS, PILLOW_ORDER, assert_like_pillow, photo, pillow
from dali_mixup import MixInputError, native, translate_errors
from dali_mixup.resample import resize

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason="the CPU operators are not built")

def run(images: list[np.ndarray], size: tuple[int, int], *, interpolation: str = "bilinear",
        mirror: list[int] | None = None, batch_size: int | None = None, layout: str = "HWC") -> list[np.ndarray]:
    """The operator's outputs for one batch of ``images``."""

    @pipeline_def(batch_size=batch_size or len(images), num_threads=2, device_id=None, seed=7)
    def graph():
        x = fn.external_source(source=lambda: images, layout=layout, batch=True)
        flip = None if mirror is None else fn.external_source(
            source=lambda: [np.int32(m) for m in mirror], batch=True)
        return resize(x, size=size, interpolation=interpolation, mirror=flip)

    pipe = graph()
    pipe.build()
    with translate_errors():
        (out,) = pipe.run()
    return [np.asarray(out[i]) for i in range(len(out))]


# (input height, width) -> (output height, width): downscales by up to 9x, upscales by up to
# 224x, one axis or both, odd and even, each axis in either direction, the RRC's usual cases.
SCALES = [
    ((375, 500), (224, 224)), ((300, 260), (224, 224)), ((180, 150), (224, 224)),
    ((2001, 1500), (224, 224)), ((1, 1), (224, 224)), ((1, 7), (5, 3)), ((224, 224), (224, 224)),
    ((333, 224), (224, 224)), ((224, 401), (224, 224)), ((97, 640), (224, 224)),
    ((640, 97), (224, 224)), ((17, 31), (224, 160)), ((450, 450), (47, 49)), ((3, 1000), (2, 9)),
]


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("shapes", SCALES, ids=lambda s: f"{s[0][0]}x{s[0][1]}-{s[1][0]}x{s[1][1]}")
def test_matches_pillow(shapes, interpolation):
    (h, w), size = shapes
    images = [photo(h, w, seed) for seed in range(3)]
    for i, (image, out) in enumerate(zip(images, run(images, size, interpolation=interpolation))):
        assert_like_pillow(out, pillow(image, size, interpolation), f"{interpolation} {h}x{w}->{size} #{i}")


@pytest.mark.parametrize("channels", [1, 2, 4, 5])
def test_channel_counts(channels):
    rng = np.random.default_rng(channels)
    images = [np.ascontiguousarray(photo(61, 83, s)[..., rng.integers(0, 3, channels)]) for s in range(2)]
    for interpolation in FILTERS:
        for image, out in zip(images, run(images, (40, 101), interpolation=interpolation)):
            assert_like_pillow(out, pillow(image, (40, 101), interpolation), f"{channels} channels")


def test_random_noise_is_exact_where_pillow_orders_alike():
    """Noise overshoots bicubic's range on every pixel: any rounding or order slip shows."""
    if not PILLOW_ORDER:
        pytest.skip("Pillow older than 13 resamples in another order")
    rng = np.random.default_rng(3)
    for _ in range(12):
        h, w, oh, ow = (int(v) for v in rng.integers(1, 400, 4))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for interpolation in FILTERS:
            (out,) = run([image], (oh, ow), interpolation=interpolation)
            np.testing.assert_array_equal(out, pillow(image, (oh, ow), interpolation), f"{h}x{w}->{oh}x{ow}")


@pytest.mark.parametrize("shapes", [((300, 260), (224, 224)), ((224, 224), (224, 224)), ((9, 5), (224, 224))])
def test_mirror_flips_the_resampled_image(shapes):
    (h, w), size = shapes
    images = [photo(h, w, 1)] * 2
    plain, flipped = run(images, size, mirror=[0, 1])
    np.testing.assert_array_equal(flipped, plain[:, ::-1])
    assert_like_pillow(plain, pillow(images[0], size, "bilinear"), "unflipped")


def test_ragged_batch_batch_of_one_and_partial_batch():
    sizes = [(375, 500), (1, 1), (123, 77), (800, 41), (224, 224)]
    images = [photo(h, w, i) for i, (h, w) in enumerate(sizes)]
    outs = run(images, (64, 48), batch_size=8)  # a partial batch: 5 of 8
    assert len(outs) == 5
    for image, out in zip(images, outs):
        assert_like_pillow(out, pillow(image, (64, 48), "bilinear"), str(image.shape))
    (single,) = run(images[2:3], (64, 48))
    np.testing.assert_array_equal(single, outs[2])


def test_random_interpolation_picks_each_filter_half_the_time():
    images = [photo(150, 130, s % 4) for s in range(100)]
    outs = run(images, (96, 96), interpolation="random")
    picks = []
    for image, out in zip(images, outs):
        matches = [name for name in FILTERS if np.array_equal(out, pillow(image, (96, 96), name))]
        assert len(matches) == 1 or not PILLOW_ORDER, matches
        if len(matches) == 1:
            picks.append(matches[0] == "bicubic")
    assert len(picks) >= 50
    assert stats.binomtest(sum(picks), len(picks), 0.5).pvalue > 1e-3, sum(picks)


def test_random_interpolation_on_dalis_resize(monkeypatch):
    """Without the operator, DALI's resize takes the per-sample choice as its interp_type: each
    output is DALI's bilinear or DALI's bicubic one, and both occur."""
    monkeypatch.setenv("DALI_MIXUP_FUSED", "0")
    images = [photo(150, 130, s % 4) for s in range(24)]
    fixed = {name: run(images, (96, 80), interpolation=name, mirror=[1] * 24) for name in FILTERS}
    outs = run(images, (96, 80), interpolation="random", mirror=[1] * 24)
    picks = [[name for name in FILTERS if np.array_equal(out, fixed[name][i])] for i, out in enumerate(outs)]
    assert all(len(p) == 1 for p in picks), picks
    assert {p[0] for p in picks} == set(FILTERS)
    # DALI's filters, flipped: near Pillow's, not equal to them.
    ref = pillow(images[0], (96, 80), "bilinear")[:, ::-1]
    assert np.abs(fixed["bilinear"][0].astype(int) - ref).mean() < 4


def test_bad_filter_given_to_the_operator():
    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def graph():
        x = fn.external_source(source=lambda: [np.zeros((4, 4, 3), np.uint8)] * 2, layout="HWC", batch=True)
        f = fn.external_source(source=lambda: [np.int32(1), np.int32(2)], batch=True)
        return fn.dali_mixup_resize(x, size=(2, 2), filter=f)

    pipe = graph()
    pipe.build()
    with pytest.raises(MixInputError, match=r"resize: filter: sample 1: expected 0 \(bilinear\) or 1 \(bicubic\), got 2"):
        with translate_errors():
            pipe.run()


@pytest.mark.parametrize("image, message", [
    (np.zeros((8, 8, 3), np.float32), r"resize: images: expected uint8, got float"),
    (np.zeros((8, 8), np.uint8), r"resize: images: expected layout HWC \(3 dimensions\), got 'HW' with 2"),
    (np.zeros((0, 8, 3), np.uint8), r"resize: images: sample 0 is empty"),
])
def test_bad_images(image, message):
    layout = {2: "HW", 3: "HWC"}[image.ndim]
    with pytest.raises(MixInputError, match=message):
        run([image], (4, 4), layout=layout)


def test_chw_images_are_refused():
    with pytest.raises(MixInputError, match=r"expected layout HWC \(3 dimensions\), got 'CHW'"):
        run([np.zeros((3, 8, 8), np.uint8)], (4, 4), layout="CHW")


@pytest.mark.parametrize("options, message", [
    (dict(size=(0, 4)), r"resize: size: expected \(height, width\), integers >= 1, or a CPU DataNode, got \(0, 4\)"),
    (dict(size=224), r"resize: size: expected \(height, width\)"),
    (dict(size=(4, 4.0)), r"resize: size"),
    (dict(size=(4, 4), interpolation="nearest"), r"interpolation: expected one of 'bilinear', 'bicubic', 'random', got 'nearest'"),
    (dict(size=(4, 4), mirror=1), r"resize: mirror: expected None or a CPU DataNode"),
])
def test_bad_options(options, message):
    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def graph():
        return resize(fn.external_source(source=lambda: [np.zeros((4, 4, 3), np.uint8)], batch=True), **options)

    with pytest.raises(ValueError, match=message):
        graph()


def test_train_pipeline_resamples_with_the_chosen_interpolation(make_image_folder):
    from pipelines import train_pipeline

    root = make_image_folder([4, 4], size=(90, 120))
    outputs = {}
    for interpolation in ("bilinear", "bicubic"):
        pipe = train_pipeline(root, batch_size=8, interpolation=interpolation, layout="NHWC",
                              num_threads=1, device="cpu", seed=3).pipeline()
        pipe.build()
        outputs[interpolation] = np.asarray(pipe.run()[0].as_tensor())
    # Same seed, same crops and flips: only the filter differs.
    a, b = (outputs[k].ravel() for k in ("bilinear", "bicubic"))
    assert not np.array_equal(a, b) and np.corrcoef(a, b)[0, 1] > 0.95
    with pytest.raises(ValueError, match="interpolation: expected one of"):
        train_pipeline(root, batch_size=8, interpolation="lanczos", device="cpu")
