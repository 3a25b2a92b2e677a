"""Normalization on the way out of the stage (``mix(normalize=...)``) and alone
(``normalize``), against the formula."""

from __future__ import annotations

import re

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def, types

from _mixrun import DEVICES, class_ids, composed, needs_cpu_operator, random_images, run_mix
from dali_mixup import MixConfig, MixInputError, Normalize, mix, normalize, translate_errors

MEAN, STD = (123.7, 116.3, 103.5), (58.4, 57.1, 57.4)


def _mixed(images: list[np.ndarray], r, i: int, layout: str) -> np.ndarray:
    """The mixed image before normalization, float32, in ``layout``."""
    x, xp = images[i].astype(np.float32), images[int(r.partner[i])].astype(np.float32)
    if r.cutmix[i]:
        top, left, h, w = r.box[i]
        out = x.copy()
        if layout == "HWC":
            out[top:top + h, left:left + w] = xp[top:top + h, left:left + w]
        else:
            out[:, top:top + h, left:left + w] = xp[:, top:top + h, left:left + w]
        return out
    lam = np.float32(r.lam[i])
    return x * lam + xp * (np.float32(1) - lam)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("in_layout, out_layout", [("HWC", "CHW"), ("HWC", "HWC"), ("CHW", "CHW"),
                                                   ("CHW", "HWC")])
@pytest.mark.parametrize("dtype", [types.FLOAT, types.FLOAT16])
def test_normalized_output_is_the_mixed_image_normalized(in_layout, out_layout, dtype, device):
    batch = 6
    config = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, mode="elem", num_classes=6, prob=0.8)
    images = random_images(batch, shape=(10, 14, 3))
    if in_layout == "CHW":
        images = [np.ascontiguousarray(im.transpose(2, 0, 1)) for im in images]
    normalize = Normalize(mean=MEAN, std=STD, layout=out_layout)
    kinds = set()
    for r in run_mix(images, class_ids(batch), config, device=device, iterations=8,
                     image_layout=in_layout, layout=in_layout, dtype=dtype, normalize=normalize):
        assert r.images.dtype == (np.float16 if dtype == types.FLOAT16 else np.float32)
        assert r.images.shape == (batch, *((3, 10, 14) if out_layout == "CHW" else (10, 14, 3)))
        for i in range(batch):
            kinds.add("none" if r.partner[i] == i else "cutmix" if r.cutmix[i] else "mixup")
            mixed = _mixed(images, r, i, in_layout)
            hwc = mixed if in_layout == "HWC" else mixed.transpose(1, 2, 0)
            expected = (hwc - np.float32(MEAN)) / np.float32(STD)
            expected = expected.transpose(2, 0, 1) if out_layout == "CHW" else expected
            tol = 2e-3 if dtype == types.FLOAT16 else 1e-5
            np.testing.assert_allclose(r.images[i].astype(np.float32), expected, rtol=tol, atol=tol)
    assert kinds == {"none", "cutmix", "mixup"}


def test_a_batch_holding_one_array_twice_still_blends_both_terms():
    """Two samples may share memory (one numpy array given twice): a blend of an image with
    itself is the image, whatever lam."""
    image = random_images(1)[0]
    config = MixConfig(mixup_alpha=1.0, num_classes=2)
    for r in run_mix([image, image], class_ids(2), config, iterations=5, layout="HWC",
                     normalize=Normalize(mean=MEAN, std=STD, layout="HWC")):
        expected = (image.astype(np.float32) - np.float32(MEAN)) / np.float32(STD)
        for i in range(2):
            assert r.partner[i] == 1 - i and r.lam[i] < 1
            np.testing.assert_allclose(r.images[i], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("device", ["cpu", "cpu-composed"])
def test_images_with_another_channel_count_than_normalize_are_refused(device):
    images = random_images(2, shape=(6, 6, 4))
    normalize = Normalize(mean=MEAN, std=STD)
    with pytest.raises(MixInputError, match=re.escape(
            "mix: sample 0 has another number of channels than Normalize has mean and std values")):
        run_mix(images, class_ids(2), MixConfig(num_classes=2), device=device, layout="HWC",
                normalize=normalize)


def test_normalize_takes_sequences_arrays_and_numpy_scalars_alike():
    a = Normalize(mean=np.array(MEAN, np.float32), std=[np.float64(v) for v in STD])
    b = Normalize(mean=list(np.float32(MEAN)), std=STD)
    assert a == b and a.mean == tuple(float(v) for v in np.float32(MEAN)) and a.layout == "CHW"


@pytest.mark.parametrize("options, message", [
    ({"mean": (), "std": (1.0,)}, "Normalize.mean: expected a non-empty sequence of finite numbers, one per channel, got ()"),
    ({"mean": (0.0, "1"), "std": (1.0, 1.0)}, "Normalize.mean: expected a non-empty sequence of finite numbers"),
    ({"mean": (0.0,), "std": (0.0,)}, "Normalize.std: expected a non-empty sequence of finite positive numbers, one per channel, got (0.0,)"),
    ({"mean": (0.0, 0.0), "std": (1.0,)}, "Normalize.std: expected 2 values, as many as mean, got (1.0,)"),
    ({"mean": (0.0,), "std": (1.0,), "layout": "NCHW"}, "Normalize.layout: expected 'HWC' or 'CHW', got 'NCHW'"),
])
def test_bad_normalize_names_the_field(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Normalize(**options)


@pytest.mark.parametrize("options, error, message", [
    ({"normalize": (MEAN, STD)}, TypeError, "mix: normalize: expected None or a Normalize, got tuple"),
    ({"normalize": Normalize(mean=MEAN, std=STD), "dtype": types.UINT8}, ValueError,
     "mix: dtype: expected types.FLOAT or types.FLOAT16 with normalize, got types.UINT8"),
])
def test_bad_normalize_call_is_refused_when_the_graph_is_defined(options, error, message):
    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def pipe():
        x = fn.external_source(source=lambda: random_images(2), batch=True, layout="HWC")
        y = fn.external_source(source=lambda: class_ids(2), batch=True)
        return mix(x, y, MixConfig(num_classes=2), **options)

    with pytest.raises(error, match=re.escape(message)):
        pipe()


def _run_normalize(images, *, device: str, image_layout: str | None, **options) -> np.ndarray:
    @pipeline_def(batch_size=len(images), num_threads=1, device_id=None)
    def pipe():
        x = fn.external_source(source=lambda: list(images), batch=True, layout=image_layout)
        return normalize(x, Normalize(mean=MEAN, std=STD, layout=options.pop("out_layout", "CHW")),
                         **options)

    if device == "cpu-composed":
        with composed():
            p = pipe()
    else:
        p = pipe()
    p.build()
    with translate_errors():
        (out,) = p.run()
    return np.stack([np.array(out[i]) for i in range(len(images))])


@pytest.mark.parametrize("device", ["cpu", "cpu-composed"])
@pytest.mark.parametrize("in_layout, out_layout", [("HWC", "CHW"), ("HWC", "HWC"), ("CHW", "HWC")])
@pytest.mark.parametrize("dtype", [types.FLOAT, types.FLOAT16])
def test_normalize_alone_is_the_formula(in_layout, out_layout, dtype, device):
    images = random_images(3, shape=(9, 11, 3))
    hwc = np.stack(images).astype(np.float32)
    if in_layout == "CHW":
        images = [np.ascontiguousarray(im.transpose(2, 0, 1)) for im in images]
    out = _run_normalize(images, device=device, image_layout=in_layout, out_layout=out_layout,
                         dtype=dtype)
    expected = (hwc - np.float32(MEAN)) / np.float32(STD)
    expected = expected.transpose(0, 3, 1, 2) if out_layout == "CHW" else expected
    assert out.dtype == (np.float16 if dtype == types.FLOAT16 else np.float32)
    tol = 2e-3 if dtype == types.FLOAT16 else 1e-5
    np.testing.assert_allclose(out.astype(np.float32), expected, rtol=tol, atol=tol)


@needs_cpu_operator
def test_normalize_alone_equals_mix_with_nothing_mixed_bit_for_bit():
    """A pipeline without mixing differs from one with mixing by the mixing alone."""
    images = random_images(4, shape=(8, 10, 3))
    alone = _run_normalize(images, device="cpu", image_layout="HWC")
    r = run_mix(images, class_ids(4), MixConfig(num_classes=4), prob=0.0, layout="HWC",
                normalize=Normalize(mean=MEAN, std=STD))[0]
    np.testing.assert_array_equal(r.images, alone)


@needs_cpu_operator
def test_normalize_alone_refuses_bad_batches_clearly():
    """On the CPU operator; elsewhere ``fn.crop_mirror_normalize`` reports its own errors."""
    with pytest.raises(MixInputError, match="images must have layout 'HWC' or 'CHW'"):
        _run_normalize(random_images(2), device="cpu", image_layout=None)
    with pytest.raises(MixInputError, match="sample 0 has another number of channels than Normalize"):
        _run_normalize(random_images(2, shape=(4, 4, 2)), device="cpu", image_layout="HWC")


@pytest.mark.parametrize("call, error, message", [
    (lambda x: normalize(x, (MEAN, STD)), TypeError, "normalize: config: expected a Normalize, got tuple"),
    (lambda x: normalize(x, Normalize(mean=MEAN, std=STD), layout="NHWC"), ValueError,
     "normalize: layout: expected None, 'HWC' or 'CHW', got 'NHWC'"),
    (lambda x: normalize(x, Normalize(mean=MEAN, std=STD), dtype=types.UINT8), ValueError,
     "normalize: dtype: expected types.FLOAT or types.FLOAT16, got"),
])
def test_bad_normalize_arguments_are_refused_when_the_graph_is_defined(call, error, message):
    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def pipe():
        return call(fn.external_source(source=lambda: random_images(2), batch=True, layout="HWC"))

    with pytest.raises(error, match=re.escape(message)):
        pipe()
