"""The pipeline factories: outputs checked against Pillow + numpy on the same files."""

from __future__ import annotations

import io
import logging
import tarfile

import numpy as np
import pytest
import torch
from nvidia.dali import Pipeline, fn, types
from PIL import Image

from dali_mixup import DALILoader, MixConfig, native
from pipelines import IMAGENET_MEAN, IMAGENET_STD, FileSource, open_source, train_pipeline, val_pipeline
from pipelines import device as device_module
from pipelines.device import Runtime
from pipelines.train import TrainGraph
from pipelines.val import ValGraph

PIXELS = {"mean": (0.0, 0.0, 0.0), "std": (1 / 255,) * 3}  # normalization that keeps 0..255 values


def encoded_in_order(source) -> list[bytes]:
    """The encoded images of a source in its stored order (the validation order)."""
    if isinstance(source, FileSource):
        return [open(f, "rb").read() for f in source.files]
    encoded = []
    for path in source.paths:
        with tarfile.open(path) as archive:
            encoded += [archive.extractfile(m).read() for m in archive if not m.name.endswith(".cls")]
    return encoded


def pillow_val(data: bytes, *, image_size: int, resize_shorter: int) -> np.ndarray:
    """float32 (S, S, 3) 0..255: Pillow's RGB decode, bilinear shorter-side resize, centre crop."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    if min(w, h) != resize_shorter:
        scale = resize_shorter / min(w, h)
        image = image.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32)
    top, left = (pixels.shape[0] - image_size) // 2, (pixels.shape[1] - image_size) // 2
    return pixels[top:top + image_size, left:left + image_size]


def one_epoch(spec, **loader_args) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(DALILoader(spec, **loader_args))
    return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


def to_hwc(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).float().numpy()


@pytest.fixture(params=["image_folder", "file_list", "webdataset"])
def any_source(request, make_image_folder, make_file_list, make_webdataset):
    """``make(n, ext)``: a data set of n images (24 x 32) of each source kind."""
    def make(n: int, ext: str = "png"):
        if request.param == "image_folder":
            return make_image_folder([n - n // 2, n // 2], ext=ext)
        if request.param == "file_list":
            return make_file_list(n, ext=ext)
        return make_webdataset(n, shards=2, ext=ext)
    return make


# ------------------------------------------------------------------ validation pipeline


@pytest.mark.parametrize("ext", ["png", "jpg"])
@pytest.mark.parametrize("layout, dtype, atol", [("NCHW", "float32", 1e-5), ("NHWC", "float16", 4e-3)])
def test_val_equals_pillow_and_numpy(any_source, ext, layout, dtype, atol) -> None:
    # 24 x 32 images, shorter side already 24: decode, centre crop and normalize only. The
    # JPEGs match exactly too: DALI's CPU decoder and Pillow both use libjpeg-turbo's
    # default (islow IDCT, fancy upsampling). Tolerances: float rounding, fp16's step.
    path = any_source(5, ext)
    images, labels = one_epoch(val_pipeline(path, batch_size=2, image_size=24, crop_pct=1.0,
                                            layout=layout, dtype=dtype))

    assert images.shape == (5, 3, 24, 24) and images.dtype == getattr(torch, dtype)
    assert images.is_contiguous(memory_format=torch.channels_last) == (layout == "NHWC")
    source = open_source(path)
    expected = np.stack([pillow_val(data, image_size=24, resize_shorter=24)
                         for data in encoded_in_order(source)])
    expected = (expected / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(to_hwc(images), expected, atol=atol, rtol=0)
    assert labels.dtype == torch.int64
    if isinstance(source, FileSource):
        assert labels.tolist() == list(source.labels)


def smooth_pixels(index: int, label: int) -> np.ndarray:
    """40 x 60 RGB: coarse random blocks blurred by upsampling, like photos at this scale."""
    coarse = np.random.default_rng(index).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((60, 40), Image.BILINEAR))


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_val_resize_is_pillows_bilinear_within_one_level(make_image_folder, ext) -> None:
    # 40 x 60 to 32 x 48 (shorter side floor(24 / 0.75)), centre crop 24: sizes where both
    # scale by exactly 0.8 and the crop is centred on whole pixels. DALI's linear resize and
    # Pillow's bilinear are both antialiased triangle filters; on smooth images they agree
    # to rounding (pixel noise would expose their different filter supports instead).
    path = make_image_folder([3], ext=ext, pixels=smooth_pixels)
    images, _ = one_epoch(val_pipeline(path, batch_size=3, image_size=24, crop_pct=0.75, **PIXELS))

    expected = np.stack([pillow_val(data, image_size=24, resize_shorter=32)
                         for data in encoded_in_order(open_source(path))])
    difference = np.abs(to_hwc(images) - expected)
    assert difference.max() <= 1.0 + 1e-3
    assert difference.mean() < 0.5


@pytest.mark.parametrize("channels, ext", [(1, "png"), (4, "png"), (1, "jpg")])
def test_gray_and_rgba_become_rgb(make_image_folder, channels, ext) -> None:
    path = make_image_folder([2], channels=channels, ext=ext)
    images, _ = one_epoch(val_pipeline(path, batch_size=2, image_size=24, crop_pct=1.0, **PIXELS))

    expected = np.stack([pillow_val(data, image_size=24, resize_shorter=24)
                         for data in encoded_in_order(open_source(path))])
    np.testing.assert_allclose(to_hwc(images), expected, atol=1e-4, rtol=0)


# ------------------------------------------------------------------ training pipeline


@pytest.mark.parametrize("hflip", [0.0, 1.0, 0.5])
def test_train_crop_of_the_whole_image_is_the_image_or_its_mirror(make_file_list, hflip) -> None:
    # Square 16 x 16 images with scale = ratio = 1: the random crop is the whole image.
    path = make_file_list(12, size=(16, 16))
    images, labels = one_epoch(train_pipeline(path, batch_size=5, image_size=16, scale=(1, 1),
                                              ratio=(1, 1), hflip=hflip, seed=3, **PIXELS))

    originals = [np.asarray(Image.open(f), dtype=np.float32) for f in open_source(path).files]
    flipped = []
    for image, label in zip(to_hwc(images), labels.tolist()):
        original = originals[label]
        if np.allclose(image, original, atol=1e-4):
            flipped.append(False)
        else:
            np.testing.assert_allclose(image, original[:, ::-1], atol=1e-4)
            flipped.append(True)
    assert {0.0: {False}, 1.0: {True}, 0.5: {False, True}}[hflip] == set(flipped)


SOLID = np.array([[250, 0, 0], [0, 200, 0], [0, 0, 150], [100, 100, 100]], dtype=np.float32)


def solid_colours(index: int, label: int) -> np.ndarray:
    return np.broadcast_to(SOLID[label].astype(np.uint8), (16, 16, 3)).copy()


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_train_mixup_pixels_follow_the_targets(make_image_folder, mode) -> None:
    # One solid colour per class, whole-image crops, no flip: a mixed image is the targets'
    # blend of the class colours, pixel for pixel, once normalized. This checks that mixing
    # before normalization is exact, and that images and targets stay aligned.
    path = make_image_folder([3, 3, 3, 3], ext="png", pixels=solid_colours)
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=0.0, mode=mode, label_smoothing=0.0, num_classes=4)
    images, targets = one_epoch(train_pipeline(path, batch_size=6, image_size=16, scale=(1, 1),
                                               ratio=(1, 1), hflip=0.0, mix=config, seed=5))

    assert targets.shape == (12, 4) and targets.dtype == torch.float32
    assert (targets.max(dim=1).values < 1).any()  # something was mixed
    expected = targets.numpy() @ SOLID  # (N, 3) colour per image
    expected = (expected / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(to_hwc(images), np.broadcast_to(expected[:, None, None], (12, 16, 16, 3)),
                               atol=1e-4, rtol=0)


def test_train_cutmix_area_follows_the_targets(make_image_folder) -> None:
    path = make_image_folder([3, 3, 3, 3], ext="png", pixels=solid_colours)
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem", label_smoothing=0.0, num_classes=4)
    images, targets = one_epoch(train_pipeline(path, batch_size=6, image_size=16, scale=(1, 1),
                                               ratio=(1, 1), hflip=0.0, mix=config, seed=5, **PIXELS))

    pixels = to_hwc(images).reshape(12, -1, 3)
    for image, target in zip(pixels, targets.numpy()):
        classes = np.flatnonzero(target)
        assert np.isin(image, SOLID[classes]).all(axis=1).all()  # every pixel from one of the two
        np.testing.assert_allclose(image.mean(axis=0), target @ SOLID, atol=1e-3)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("mixing", [False, True])
def test_train_output_shapes_and_types(any_source, layout, dtype, mixing) -> None:
    path = any_source(5, "jpg")
    mix = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=10) if mixing else None
    loader = DALILoader(train_pipeline(path, batch_size=4, image_size=20, layout=layout, dtype=dtype, mix=mix))

    (images, targets), (last_images, last_targets) = list(loader)
    assert images.shape == (4, 3, 20, 20) and last_images.shape == (1, 3, 20, 20)
    assert images.dtype == getattr(torch, dtype) and images.device.type == "cpu"
    assert images.is_contiguous(memory_format=torch.channels_last) == (layout == "NHWC")
    assert torch.isfinite(images.float()).all()
    if mixing:
        assert targets.shape == (4, 10) and targets.dtype == torch.float32
        torch.testing.assert_close(targets.sum(dim=1), torch.ones(4))
    else:
        assert targets.shape == (4,) and targets.dtype == torch.int64


def test_same_seed_same_batches_other_seed_other_batches(make_file_list) -> None:
    path = make_file_list(6)
    mix = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=6)

    def run(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return one_epoch(train_pipeline(path, batch_size=4, image_size=16, mix=mix, seed=seed))

    first, again, other = run(1), run(1), run(2)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_shards_share_the_shuffle_but_not_the_augmentation() -> None:
    runtimes = [Runtime(batch_size=2, num_threads=1, device="cpu", device_id=None, seed=7,
                        shard_id=s, num_shards=2) for s in range(2)]
    assert runtimes[0].reader_seed == runtimes[1].reader_seed
    assert runtimes[0].pipeline_seed != runtimes[1].pipeline_seed


# ------------------------------------------------------------------ devices


def upstream(nodes) -> list:
    """Every operator instance that ``nodes`` depend on, argument inputs included."""
    found, todo = {}, list(nodes)
    while todo:
        op = todo.pop().source
        if op is not None and id(op) not in found:
            found[id(op)] = op
            todo += op.inputs
    return list(found.values())


@pytest.mark.parametrize("graph, ours, dalis", [
    (TrainGraph(image_size=16, mix=MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=3)),
     "DaliMixupMix", "MultiPaste"),
    (TrainGraph(image_size=16), "DaliMixupNormalize", "CropMirrorNormalize"),
    (ValGraph(image_size=16), None, "CropMirrorNormalize"),
], ids=["train-mix", "train", "val"])
def test_gpu_graph_is_well_formed_without_a_gpu(make_image_folder, graph, ours, dalis) -> None:
    """DALI checks device placement while the graph is defined, even without CUDA. The
    stage runs on the stage's GPU operator where it is built, else on DALI's operators."""
    source = open_source(make_image_folder([2, 1]))
    runtime = Runtime(batch_size=2, num_threads=1, device="gpu", device_id=0, seed=0,
                      shard_id=0, num_shards=1)
    with Pipeline(batch_size=2, num_threads=1, device_id=0):
        prob = fn.external_source(source=lambda: np.ones(2, np.float32), batch=True,
                                  dtype=types.FLOAT, ndim=0)
        samples = fn.external_source(source=lambda: np.ones(2, np.int32), batch=True,
                                     dtype=types.INT32, ndim=0)
        outputs = graph.define(prob, samples=samples, source=source, runtime=runtime,
                               reader_name="reader")
    assert [node.device for node in outputs] == ["gpu", "gpu"]
    ops = upstream(outputs)
    used = {type(op._op).__name__ for op in ops}
    on_ours = ours is not None and native.available("gpu")
    assert (ours in used, dalis in used) == (on_ours, not on_ours), used
    mixes = isinstance(graph, TrainGraph) and graph.mix is not None
    assert any(op is samples.source for op in ops) == mixes, "the count reaches the stage"


@pytest.mark.gpu
def test_gpu_pipeline_yields_cuda_tensors(make_image_folder) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    path = make_image_folder([3, 2], ext="jpg")
    mix = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=2)
    images, targets = next(iter(DALILoader(train_pipeline(path, batch_size=4, image_size=16, mix=mix,
                                                          device="gpu", dtype="float16"))))
    assert images.is_cuda and targets.is_cuda and images.dtype == torch.float16
    val_images, val_targets = one_epoch(val_pipeline(path, batch_size=4, image_size=24, crop_pct=1.0,
                                                     device="gpu"))
    assert val_images.is_cuda and val_targets.tolist() == [0, 0, 0, 1, 1]


def test_device_defaults_to_cpu_here_and_is_logged_once(make_file_list, caplog) -> None:
    device_module._cuda_devices.cache_clear()
    path = make_file_list(2)
    with caplog.at_level(logging.INFO, logger="pipelines"):
        specs = [train_pipeline(path, batch_size=2), val_pipeline(path, batch_size=2)]
    assert [s.device for s in specs] == ["cpu", "cpu"]
    assert [r.getMessage() for r in caplog.records] == ["DALI pipelines run on the CPU (no CUDA device found)"]


# ------------------------------------------------------------------ argument errors


@pytest.mark.parametrize("kwargs, error, match", [
    ({"batch_size": 0}, ValueError, r"batch_size: expected an integer >= 1, got 0"),
    ({"image_size": 2.5}, ValueError, r"image_size: expected an integer >= 1 \(pixels\), got 2\.5"),
    ({"scale": (0.5, 0.2)}, ValueError, r"scale: expected \(lo, hi\) with 0\.0 < lo <= hi <= 1\.0, got \(0\.5, 0\.2\)"),
    ({"ratio": (0, 1)}, ValueError, r"ratio: expected \(lo, hi\) with 0\.0 < lo <= hi <= inf"),
    ({"hflip": 2}, ValueError, r"hflip: expected a probability in \[0, 1\], got 2"),
    ({"mean": (0.5, 0.5)}, ValueError, r"mean: expected 3 numbers \(one per RGB channel\), got \(0\.5, 0\.5\)"),
    ({"std": (1, 0, 1)}, ValueError, r"std: expected 3 positive numbers"),
    ({"layout": "CHW"}, ValueError, r"layout: expected 'NCHW' or 'NHWC' \(channels-last\), got 'CHW'"),
    ({"dtype": "uint8"}, ValueError, r"dtype: expected 'float32' or 'float16', got 'uint8'"),
    ({"hw_decoder_load": 1.5}, ValueError, r"hw_decoder_load: expected a number in \[0, 1\], got 1\.5"),
    ({"device": "tpu"}, ValueError, r"device: expected None, 'cpu' or 'gpu', got 'tpu'"),
    ({"device": "gpu"}, ValueError, r"device='gpu', but DALI finds no CUDA device"),
    ({"seed": -1}, ValueError, r"seed: expected an integer >= 0, got -1"),
    ({"num_threads": 0}, ValueError, r"num_threads: expected an integer >= 1, got 0"),
    ({"num_shards": 2, "shard_id": 2}, ValueError, r"shard_id: expected an integer in \[0, num_shards=2\), got 2"),
    ({"num_shards": 5}, ValueError, r"num_shards=5 is more than the 4 samples of the data set"),
    ({"mix": {"mixup_alpha": 1}}, TypeError, r"mix: expected a MixConfig or None, got dict"),
    ({"mix": MixConfig(num_classes=3)}, ValueError,
     r"mix\.num_classes=3, but the data set has class ids up to 3: expected num_classes >= 4"),
])
def test_train_argument_errors(make_file_list, kwargs, error, match) -> None:
    if kwargs.get("device") == "gpu" and device_module._cuda_devices():
        pytest.skip("this machine has a GPU")
    args = {"batch_size": 2} | kwargs
    with pytest.raises(error, match=match):
        train_pipeline(make_file_list(4), **args)


@pytest.mark.parametrize("kwargs, match", [
    ({"crop_pct": 0}, r"crop_pct: expected a number in \(0, 1\], got 0"),
    ({"image_size": 0}, r"image_size: expected an integer >= 1 \(pixels\), got 0"),
    ({"layout": "nhwc"}, r"layout: expected 'NCHW' or 'NHWC'"),
])
def test_val_argument_errors(make_file_list, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        val_pipeline(make_file_list(2), batch_size=2, **kwargs)


def test_shard_from_a_malformed_environment(make_file_list, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "one")
    with pytest.raises(ValueError, match=r"environment variable RANK='one': expected an integer >= 0"):
        train_pipeline(make_file_list(2), batch_size=2)
