"""The validation pipeline's shorter-side resize (``interpolation``), against timm's eval
transform on PIL images computed with Pillow alone: torchvision's ``Resize(S)`` (the shorter
side S, the longer ``int(S * long / short)``), Pillow's ``Image.resize``, then torchvision's
``CenterCrop`` (``int(round((side - crop) / 2.0))``, a half-pixel offset rounded to even, where
DALI's own centre crop rounds it up); and the operator's per-sample ``size``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nvidia.dali import fn, pipeline_def, types
from PIL import Image

from _pillow import FILTERS, assert_like_pillow, photo
from dali_mixup import DALILoader, MixInputError, native, translate_errors
from dali_mixup.resample import resize, shorter_side_sizes
from pipelines import open_source, val_pipeline

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason="the CPU operators are not built")

PIXELS = {"mean": (0.0, 0.0, 0.0), "std": (1 / 255,) * 3}  # normalization that keeps 0..255 values


def resized_size(height: int, width: int, shorter: int) -> tuple[int, int]:
    """torchvision's ``_compute_resized_output_size`` for ``Resize(shorter)``: (height, width)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = shorter, int(shorter * long / short)
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    return new_h, new_w


def timm_eval(image: Image.Image, *, image_size: int, crop_pct: float, interpolation: str) -> np.ndarray:
    """timm's eval transform up to ToTensor, torchvision's rules, Pillow's resize: uint8 HWC."""
    shorter = int(image_size / crop_pct)  # math.floor, as timm
    new_h, new_w = resized_size(image.height, image.width, shorter)
    pixels = np.asarray(image.resize((new_w, new_h), FILTERS[interpolation]))
    top = int(round((new_h - image_size) / 2.0))
    left = int(round((new_w - image_size) / 2.0))
    return pixels[top:top + image_size, left:left + image_size]


def halves_round_down(height: int, width: int, image_size: int, crop_pct: float) -> bool:
    """Whether an offset of the centre crop is k + 0.5 with k even (round() gives k, DALI's
    crop_pos=0.5 would give k + 1)."""
    new = resized_size(height, width, int(image_size / crop_pct))
    return any((n - image_size) % 4 == 1 for n in new)


def val_outputs(root, **options) -> np.ndarray:
    """The val pipeline's images of one epoch, rounded back to uint8 HWC."""
    spec = val_pipeline(root, batch_size=4, layout="NHWC", num_threads=2, device="cpu", **PIXELS, **options)
    images = torch.cat([batch[0] for batch in DALILoader(spec)]).permute(0, 2, 3, 1).float().numpy()
    assert np.abs(images - np.rint(images)).max() < 1e-3  # whole levels: uint8 before normalizing
    return np.rint(images).astype(np.uint8)


# (height, width): portrait, landscape, square; odd and even; larger and smaller than the
# resize target (upscaled); extreme aspect ratios.
SHAPES = [(375, 500), (500, 333), (61, 83), (97, 41), (45, 45), (19, 27), (240, 31), (33, 200), (128, 96)]


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("image_size, crop_pct", [(32, 0.875), (24, 0.9), (40, 1.0)])
def test_val_is_timms_eval_transform(make_image_folder, interpolation, image_size, crop_pct):
    shapes = SHAPES
    assert any(halves_round_down(*s, image_size, crop_pct) for s in shapes)
    root = make_image_folder([len(shapes)], pixels=lambda i, _: photo(*shapes[i], seed=i), name=f"v{image_size}")
    outputs = val_outputs(root, image_size=image_size, crop_pct=crop_pct, interpolation=interpolation)
    assert outputs.shape == (len(shapes), image_size, image_size, 3)
    for path, out, shape in zip(open_source(root).files, outputs, shapes):
        with Image.open(path) as image:
            assert (image.height, image.width) == shape
            expected = timm_eval(image.convert("RGB"), image_size=image_size, crop_pct=crop_pct,
                                 interpolation=interpolation)
        assert_like_pillow(out, expected, f"{interpolation} {shape}")


def test_val_default_sizes_are_timms(make_image_folder):
    """image_size 224, crop_pct 0.875: the shorter side 256, bicubic."""
    shapes = [(500, 333), (300, 402), (256, 256), (181, 252), (375, 500)]
    assert halves_round_down(375, 500, 224, 0.875)
    root = make_image_folder([len(shapes)], pixels=lambda i, _: photo(*shapes[i], seed=i))
    outputs = val_outputs(root, interpolation="bicubic")
    for path, out in zip(open_source(root).files, outputs):
        with Image.open(path) as image:
            expected = timm_eval(image.convert("RGB"), image_size=224, crop_pct=0.875, interpolation="bicubic")
        assert_like_pillow(out, expected, str(path))


def test_bilinear_and_bicubic_differ_and_bilinear_is_the_default(make_image_folder):
    root = make_image_folder([3], pixels=lambda i, _: photo(70, 90, seed=i))
    default, bilinear, bicubic = (val_outputs(root, image_size=32, **options) for options in
                                  ({}, {"interpolation": "bilinear"}, {"interpolation": "bicubic"}))
    np.testing.assert_array_equal(default, bilinear)
    assert not np.array_equal(bilinear, bicubic)


def test_centre_crop_offset_rounds_halves_to_even(make_image_folder):
    """375 x 500 at the defaults: resized to 256 x 341, the width's offset (341 - 224) / 2 = 58.5;
    torchvision keeps column 58 on (DALI's crop_pos=0.5 would keep 59 on)."""
    root = make_image_folder([1], pixels=lambda i, _: photo(375, 500, seed=5))
    (out,) = val_outputs(root, interpolation="bicubic")
    with Image.open(open_source(root).files[0]) as image:
        resized = np.asarray(image.convert("RGB").resize((341, 256), Image.Resampling.BICUBIC))
    assert_like_pillow(out, resized[16:240, 58:282], "torchvision's crop")
    assert not np.array_equal(out, resized[16:240, 59:283])


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_val_on_dalis_resize_is_near(make_image_folder, monkeypatch, interpolation):
    """Without the operator (DALI_MIXUP_FUSED=0): DALI's antialiased resize of the shorter side,
    like Pillow's (its filters and roundings differ: near, not equal)."""
    monkeypatch.setenv("DALI_MIXUP_FUSED", "0")
    shapes = [(61, 83), (97, 41), (128, 96)]
    root = make_image_folder([3], pixels=lambda i, _: photo(*shapes[i], seed=i))
    outputs = val_outputs(root, image_size=32, interpolation=interpolation)
    for path, out in zip(open_source(root).files, outputs):
        with Image.open(path) as image:
            expected = timm_eval(image.convert("RGB"), image_size=32, crop_pct=0.875, interpolation=interpolation)
        assert np.corrcoef(out.ravel().astype(float), expected.ravel().astype(float))[0, 1] > 0.9


def test_bad_interpolation(make_image_folder):
    root = make_image_folder([1])
    for bad in ("nearest", "random", None):
        with pytest.raises(ValueError, match=rf"interpolation: expected one of 'bilinear', 'bicubic', got {bad!r}"):
            val_pipeline(root, batch_size=1, interpolation=bad)


def test_sizes_are_torchvisions():
    """The graph's sizes, float64 as Python's, against torchvision's rule on many shapes,
    with ratios near whole numbers."""
    rng = np.random.default_rng(0)
    shapes = [(int(h), int(w)) for h, w in rng.integers(1, 20_000, (400, 2))]
    shapes += [(int(h), int(h * k + d)) for h, k, d in zip(rng.integers(1, 3000, 200), rng.integers(1, 9, 200),
                                                            rng.integers(-1, 2, 200)) if h * k + d >= 1]
    shapes += [(w, h) for h, w in shapes] + [(1, 1), (1, 99_999), (7, 7), (224, 225), (3, 10)]
    shorters = [1, 7, 224, 256, 273, 1000]

    @pipeline_def(batch_size=len(shapes), num_threads=1, device_id=None)
    def graph(shorter):
        dims = fn.external_source(source=lambda: [np.array([h, w, 3], np.int64) for h, w in shapes], batch=True)
        return shorter_side_sizes(dims, shorter)

    for shorter in shorters:
        pipe = graph(shorter)
        pipe.build()
        (out,) = pipe.run()
        assert out.dtype == types.INT32
        got = [tuple(int(v) for v in np.asarray(out[i])) for i in range(len(shapes))]
        assert got == [resized_size(h, w, shorter) for h, w in shapes], shorter


def run_sizes(images: list[np.ndarray], sizes: list, **options) -> list[np.ndarray]:
    @pipeline_def(batch_size=len(images), num_threads=2, device_id=None)
    def graph():
        x = fn.external_source(source=lambda: images, layout="HWC", batch=True)
        s = fn.external_source(source=lambda: [np.asarray(v) for v in sizes], batch=True)
        return resize(x, size=s, **options)

    pipe = graph()
    pipe.build()
    with translate_errors():
        (out,) = pipe.run()
    return [np.asarray(out[i]) for i in range(len(out))]


def test_resize_to_per_sample_sizes_is_pillows():
    images = [photo(61, 83, 0), photo(97, 41, 1), photo(20, 20, 2), photo(300, 200, 3)]
    sizes = [(36, 49), (85, 36), (1, 77), (150, 100)]
    for interpolation in FILTERS:
        outs = run_sizes(images, [np.array(s, np.int32) for s in sizes], interpolation=interpolation)
        for image, size, out in zip(images, sizes, outs):
            ref = np.asarray(Image.fromarray(image).resize(size[::-1], FILTERS[interpolation]))
            assert_like_pillow(out, ref, f"{interpolation} {size}")
    # Any integer type: int64 sizes are cast for the operator.
    (out,) = run_sizes(images[:1], [np.array((36, 49), np.int64)])
    assert out.shape == (36, 49, 3)


def test_resize_to_per_sample_sizes_on_dalis_resize(monkeypatch):
    monkeypatch.setenv("DALI_MIXUP_FUSED", "0")
    images = [photo(61, 83, 0), photo(97, 41, 1)]
    outs = run_sizes(images, [np.array((36, 49), np.int32), np.array((85, 36), np.int32)], interpolation="bicubic")
    assert [o.shape for o in outs] == [(36, 49, 3), (85, 36, 3)]


@pytest.mark.parametrize("sizes, message", [
    ([np.array((4, 4), np.int32), np.array((0, 3), np.int32)],
     r"resize: size: sample 1: expected \(height, width\), both >= 1, got \(0, 3\)"),
    ([np.array((-2, 4), np.int32)], r"resize: size: sample 0: expected \(height, width\), both >= 1, got \(-2, 4\)"),
    ([np.array((4, 4), np.int32), np.array((4, 4, 1), np.int32)],
     r"resize: size: sample 1: expected 2 values \(height, width\), got shape \(3\)"),
    ([np.array((4.0, 4.0), np.float32)], r"resize: size: expected int32, got float"),
])
def test_bad_per_sample_size_given_to_the_operator(sizes, message):
    @pipeline_def(batch_size=len(sizes), num_threads=1, device_id=None)
    def graph():
        x = fn.external_source(source=lambda: [np.zeros((4, 4, 3), np.uint8)] * len(sizes), layout="HWC", batch=True)
        s = fn.external_source(source=lambda: sizes, batch=True)
        return fn.dali_mixup_resize(x, size=s)

    pipe = graph()
    pipe.build()
    with pytest.raises(MixInputError, match=message):
        with translate_errors():
            pipe.run()


def test_bad_size_node():
    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def graph():
        x = fn.external_source(source=lambda: [np.zeros((4, 4, 3), np.uint8)], batch=True)
        return resize(x, size=fn.external_source(source=lambda: [np.int32([2, 2])], batch=True).gpu())

    with pytest.raises(ValueError, match=r"resize: size: expected \(height, width\) or a CPU DataNode, got a gpu"):
        graph()
