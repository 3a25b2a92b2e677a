"""The stage on the GPU against the stage on the CPU, and the GPU pipelines.

The same graph is defined twice, with the images on the CPU and with ``images.gpu()``, and
run with the same pipeline seed: the same inputs and draws. The GPU operator must then give
bit-equal parameters and targets (both come from the host code the CPU operator runs) and
bit-equal pixels (both devices run the same per-pixel arithmetic of ``blend.h``, without fused
multiply-adds, and round to uint8 and float16 to nearest even). Also: seeds and resume on the
GPU, ``normalize()`` on the GPU, and bad batches giving the CPU's ``MixInputError``.

The tests marked ``gpu`` skip, saying why, without a CUDA device that DALI can use or without
the stage's GPU operator. Without CUDA, one test checks that their GPU graphs are well formed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch
from nvidia.dali import fn, pipeline_def, types

from _mixrun import Mixed, _numpy, class_ids, cuda_available, run_mix
from dali_mixup import DALILoader, MixConfig, MixInputError, Normalize, mix, native, normalize, translate_errors
from pipelines import train_pipeline
from test_loader import BOTH, state_round_trip

MODES = ["batch", "pair", "elem"]
KINDS = {
    "mixup": {"mixup_alpha": 0.8, "cutmix_alpha": 0.0},
    "cutmix": {"mixup_alpha": 0.0, "cutmix_alpha": 1.0},
    "both": {"mixup_alpha": 0.8, "cutmix_alpha": 1.0},
    "minmax": {"mixup_alpha": 0.8, "cutmix_minmax": (0.2, 0.8)},
}
IN_DTYPES = [np.uint8, np.float16, np.float32]
LAYOUTS = ["HWC", "CHW"]
# Each graph calls the stage once per (output dtype, Normalize's output layout or None);
# uint8 output takes no normalization.
OUTPUTS = [(types.FLOAT, None), (types.FLOAT16, None), (types.UINT8, None), (types.FLOAT, "CHW"),
           (types.FLOAT16, "HWC")]
MEAN, STD = (124.0, 116.0, 104.0), (58.0, 57.0, 57.5)  # in the units of 0..255 pixels
SIZE = (13, 17)  # odd sides
ITERATIONS = 3


# ------------------------------------------------------------------ where the GPU tests run


def _run_on_device() -> None:
    """Run a tiny pipeline on CUDA device 0 and read its output back: what every GPU test needs."""
    @pipeline_def(batch_size=1, num_threads=1, device_id=0)
    def pipe():
        return fn.external_source(source=lambda: [np.arange(4, dtype=np.uint8)], batch=True).gpu()

    p = pipe()
    p.build()
    p.run()[0].as_cpu()


@functools.cache
def _why_not_here() -> str | None:
    """Why the GPU tests cannot run here; None where they can."""
    if not cuda_available():
        return "needs a CUDA device; DALI finds none"
    try:
        _run_on_device()
    except RuntimeError as error:
        return f"DALI cannot run a pipeline on CUDA device 0: {error}"
    if not native.available("gpu"):  # warns why
        return "the stage's GPU operator is unavailable here (no nvcc, or its build failed)"
    return None


@pytest.fixture
def usable_gpu() -> None:
    reason = _why_not_here()
    if reason is not None:
        pytest.skip(reason)


def on_gpu(test: Callable) -> Callable:
    """A test of the GPU operator: marked ``gpu``, skipped where it cannot run."""
    return pytest.mark.gpu(pytest.mark.usefixtures("usable_gpu")(test))


def needs_cuda_torch() -> None:
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here: DALILoader hands out CUDA tensors")


# ------------------------------------------------------------------ running the stage


def _images(batch_size: int, dtype: type, layout: str, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """Pixels on the 0..255 scale in every dtype (fractional in the float ones)."""
    rng = np.random.default_rng(5)
    shape = (*size, 3) if layout == "HWC" else (3, *size)
    if dtype == np.uint8:
        return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(batch_size)]
    return [rng.uniform(0, 255, shape).astype(dtype) for _ in range(batch_size)]


def _graph(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], config: MixConfig, *, device: str,
           layout: str | None, samples: int | None = None, seed: int = 7):
    """A pipeline (not built) calling the stage once per entry of ``OUTPUTS`` on ``images``
    moved to ``device``; ``samples``: the real-sample count given to the stage (None: none given)."""
    size = len(images)

    @pipeline_def(batch_size=size, num_threads=2, device_id=0 if device == "gpu" else None, seed=seed,
                  prefetch_queue_depth=1)
    def pipe():
        x = fn.external_source(source=lambda: list(images), batch=True, layout=layout)
        y = fn.external_source(source=lambda: list(labels), batch=True)
        count = None if samples is None else fn.external_source(
            source=lambda: [np.array(samples, np.int32)] * size, batch=True, dtype=types.INT32, ndim=0)
        if device == "gpu":
            x = x.gpu()
        nodes = []
        for dtype, out_layout in OUTPUTS:
            norm = None if out_layout is None else Normalize(mean=MEAN, std=STD, layout=out_layout)
            out, targets, p = mix(x, y, config, dtype=dtype, normalize=norm, samples=count, return_params=True)
            nodes += [out, targets, p.lam, p.partner, p.cutmix, p.box]
        return tuple(nodes)

    return pipe()


def _run(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], config: MixConfig, *, device: str,
         layout: str | None, samples: int | None = None, seed: int = 7) -> list[list[Mixed]]:
    """Per iteration, one ``Mixed`` per entry of ``OUTPUTS``."""
    p = _graph(images, labels, config, device=device, layout=layout, samples=samples, seed=seed)
    p.build()
    runs = []
    for _ in range(ITERATIONS):
        with translate_errors():
            flat = [np.stack(_numpy(o)) for o in p.run()]
        runs.append([Mixed(*flat[k:k + 6]) for k in range(0, len(flat), 6)])
    return runs


def assert_pixels_equal(got: np.ndarray, want: np.ndarray) -> None:
    """Bit-equal: both devices run blend.h's arithmetic, each product and sum rounded on its
    own, and round to uint8 and float16 to nearest even."""
    assert got.dtype == want.dtype and got.shape == want.shape
    differ = got.view(f"u{got.dtype.itemsize}") != want.view(f"u{want.dtype.itemsize}")
    assert not differ.any(), (f"{int(differ.sum())} {want.dtype} pixels differ, the worst by "
                              f"{float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())}")


def assert_gpu_matches_cpu(gpu: list[list[Mixed]], cpu: list[list[Mixed]]) -> None:
    for g_run, c_run in zip(gpu, cpu, strict=True):
        for g, c, (dtype, out_layout) in zip(g_run, c_run, OUTPUTS, strict=True):
            where = f"output {dtype}, normalize {out_layout}"
            for name in ("lam", "partner", "cutmix", "box", "targets"):
                np.testing.assert_array_equal(getattr(g, name), getattr(c, name), err_msg=f"{name}, {where}")
            assert_pixels_equal(g.images, c.images)


def _compare(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], config: MixConfig, *,
             layout: str, samples: int | None = None) -> list[list[Mixed]]:
    """Run the graph on both devices, check they agree; the GPU's results."""
    cpu = _run(images, labels, config, device="cpu", layout=layout, samples=samples)
    gpu = _run(images, labels, config, device="gpu", layout=layout, samples=samples)
    assert_gpu_matches_cpu(gpu, cpu)
    return gpu


def _config(mode: str, kind: str) -> MixConfig:
    return MixConfig(**KINDS[kind], mode=mode, num_classes=10, label_smoothing=0.1)


# ------------------------------------------------------------------ the GPU operator against the CPU operator


@on_gpu
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("in_dtype", IN_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_gpu_operator_matches_cpu_operator(mode, kind, in_dtype, layout):
    gpu = _compare(_images(6, in_dtype, layout), class_ids(6), _config(mode, kind), layout=layout)
    assert any((m.lam < 1).any() for run in gpu for m in run), "nothing was mixed: the comparison is empty"


@on_gpu
@pytest.mark.parametrize("size", [(1, 9), (2, 3), (16, 24), (224, 224)], ids=str)
@pytest.mark.parametrize("kind", ["both", "minmax"])
def test_gpu_operator_matches_cpu_operator_at_any_size(size, kind):
    for layout in LAYOUTS:
        _compare(_images(5, np.uint8, layout, size), class_ids(5), _config("elem", kind), layout=layout)


@on_gpu
@pytest.mark.parametrize("mode", MODES)
def test_batch_of_one_is_left_as_it_is_on_both_devices(mode):
    gpu = _compare(_images(1, np.uint8, "HWC"), class_ids(1), _config(mode, "both"), layout="HWC")
    for m in (m for run in gpu for m in run):
        assert m.lam.tolist() == [1.0] and m.partner.tolist() == [0] and m.cutmix.tolist() == [0]


@on_gpu
@pytest.mark.parametrize("samples", [-1, 9, 7, 5, 4, 1])
@pytest.mark.parametrize("mode", MODES)
def test_partial_batch_pairs_only_real_samples_on_both_devices(mode, samples):
    """A batch of 7 of which ``samples`` are real (the rest DALI's padding): -1, or at least
    the batch size, means all."""
    layout = "CHW"
    gpu = _compare(_images(7, np.float32, layout), class_ids(7), _config(mode, "both"), layout=layout,
                   samples=samples)
    real = samples if 0 <= samples < 7 else 7
    for m in (m for run in gpu for m in run):
        assert (m.partner[:real] < real).all(), f"a real sample mixed with padding: {m.partner}"
        padding = slice(real, None)
        np.testing.assert_array_equal(m.partner[padding], np.arange(real, 7))
        assert (m.lam[padding] == 1).all() and (m.cutmix[padding] == 0).all()


@on_gpu
def test_same_seed_gives_the_same_batches_on_the_gpu():
    images, labels, config = _images(6, np.uint8, "HWC"), class_ids(6), _config("elem", "both")
    first, again = (_run(images, labels, config, device="gpu", layout="HWC") for _ in range(2))
    other = _run(images, labels, config, device="gpu", layout="HWC", seed=8)
    for a, b, c in zip(first, again, other, strict=True):
        for x, y in zip(a, b, strict=True):
            for name in ("images", "targets", "lam", "partner", "cutmix", "box"):
                np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name)
    assert any(not np.array_equal(x.lam, z.lam) for a, c in zip(first, other) for x, z in zip(a, c)), \
        "another seed drew the same parameters"


# ------------------------------------------------------------------ normalize() and bad batches


def _normalized(images: Sequence[np.ndarray], *, device: str, layout: str) -> list[np.ndarray]:
    """``normalize`` to each (output layout, dtype), in one graph; one batch per pair."""
    @pipeline_def(batch_size=len(images), num_threads=2, device_id=0 if device == "gpu" else None)
    def pipe():
        x = fn.external_source(source=lambda: list(images), batch=True, layout=layout)
        if device == "gpu":
            x = x.gpu()
        return tuple(normalize(x, Normalize(mean=MEAN, std=STD, layout=out_layout), dtype=dtype)
                     for out_layout in LAYOUTS for dtype in (types.FLOAT, types.FLOAT16))

    p = pipe()
    p.build()
    with translate_errors():
        return [np.stack(_numpy(o)) for o in p.run()]


@on_gpu
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("in_dtype", IN_DTYPES, ids=lambda d: np.dtype(d).name)
def test_normalize_on_the_gpu_matches_the_cpu_operator(in_dtype, layout):
    images = _images(3, in_dtype, layout)
    cpu = _normalized(images, device="cpu", layout=layout)
    gpu = _normalized(images, device="gpu", layout=layout)
    for g, c in zip(gpu, cpu, strict=True):
        assert_pixels_equal(g, c)


@on_gpu
@pytest.mark.parametrize("images, labels, options, message", [
    ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)], class_ids(2), {},
     "mix: all images in a batch must have the same shape, but sample 1 differs from sample 0"),
    (_images(3, np.uint8, "HWC"), [np.array([v], np.int32) for v in (0, 3, 1)], {},
     re.escape("mix: the class id of sample 1, rounded, is outside [0, num_classes=3)")),
    (_images(2, np.uint8, "HWC"), class_ids(2), {"image_layout": None},
     "mix: images must have layout 'HWC' or 'CHW'"),
], ids=["ragged", "class-id", "layout"])
def test_bad_batch_on_the_gpu_raises_the_cpu_message(images, labels, options, message):
    config = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=3)
    said = {}
    for device in ("cpu", "gpu"):
        with pytest.raises(MixInputError, match=message) as info:
            run_mix(images, labels, config, device=device, **options)
        said[device] = str(info.value)
    assert said["gpu"] == said["cpu"]


# ------------------------------------------------------------------ the training pipeline on the GPU


def _batches(loader: DALILoader, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` batches, across epochs."""
    out = []
    while len(out) < count:
        out += [batch for _, batch in zip(range(count - len(out)), loader)]
    return out


def _gpu_loader(path, *, seed: int = 9) -> DALILoader:
    return DALILoader(train_pipeline(path, batch_size=4, image_size=8, mix=BOTH, seed=seed, device="gpu",
                                     num_threads=2))


@on_gpu
def test_train_pipeline_on_the_gpu_repeats_its_batches_for_a_seed(make_file_list):
    needs_cuda_torch()
    path = make_file_list(11)  # batches of 4: the last of each epoch partial
    first, again, other = (_batches(_gpu_loader(path, seed=seed), 6) for seed in (9, 9, 10))
    for (images, targets), (want_images, want_targets) in zip(first, again, strict=True):
        assert images.is_cuda and targets.is_cuda
        assert torch.equal(images, want_images) and torch.equal(targets, want_targets)
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(first, other)), "another seed, the same targets"


@on_gpu
def test_resume_on_the_gpu_yields_the_same_batches(make_file_list):
    needs_cuda_torch()
    path = make_file_list(11)
    original = _gpu_loader(path)
    _batches(original, 5)  # into the second epoch
    state = state_round_trip(original.state_dict())
    expected = _batches(original, 7)
    resumed = _gpu_loader(path)
    resumed.load_state_dict(state)
    assert resumed.epoch == 1
    for (images, targets), (want_images, want_targets) in zip(_batches(resumed, 7), expected, strict=True):
        assert torch.equal(images, want_images) and torch.equal(targets, want_targets)


# ------------------------------------------------------------------ without CUDA


@pytest.mark.skipif(cuda_available(), reason="with CUDA the GPU tests run these graphs themselves")
@pytest.mark.parametrize("samples", [None, 5])
@pytest.mark.parametrize("kind", KINDS)
def test_gpu_graphs_are_well_formed_without_a_gpu(kind, samples):
    """DALI checks device placement while a graph is defined: defining the GPU tests' graphs
    (every output dtype and normalization, with and without a real-sample count) without
    CUDA proves them well formed; only building them needs the device."""
    pipes = [_graph(_images(4, np.uint8, "HWC"), class_ids(4), _config(mode, kind), device="gpu",
                    layout="HWC", samples=samples) for mode in MODES]
    for pipe in pipes:
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            pipe.build()


# ------------------------------------------------------------------ the training recipe on the GPU


@on_gpu
@pytest.mark.parametrize("mode", [0, 1, 2], ids=["const", "rand", "pixel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_erasing_on_the_gpu_is_the_cpus(mode, dtype, layout) -> None:
    """The same draws give the same boxes and fills on both devices: exact for "const" and
    "rand"'s boxes, the noise within float32 rounding of the device's log/sin/cos."""
    rng = np.random.default_rng(3)
    sizes = [(1, 1), (13, 17), (64, 48), (5, 200), (224, 224), (31, 9)]
    images = [rng.normal(size=(h, w, 3) if layout == "HWC" else (3, h, w)).astype(dtype) for h, w in sizes]

    @pipeline_def(batch_size=len(images), num_threads=2, device_id=0, seed=11)
    def pipe():
        x = fn.external_source(source=lambda: images, batch=True, layout=layout)
        count = fn.random.uniform(values=[0.0, 1.0, 2.0, 3.0], dtype=types.INT32)
        draws = fn.random.uniform(range=[0.0, 1.0], shape=[3, 10, 4])
        key = fn.random.uniform(range=[0, 32767], dtype=types.INT32)
        cpu = fn.dali_mixup_erase(x, count, draws, key, layout=layout, mode=mode)
        gpu = fn.dali_mixup_erase(x.gpu(), count, draws, key, layout=layout, mode=mode, device="gpu")
        return cpu, gpu

    p = pipe()
    p.build()
    for _ in range(3):
        cpu, gpu = p.run()
        for i in range(len(images)):
            want, got = np.array(cpu[i]), np.array(gpu.as_cpu()[i])
            assert want.dtype == got.dtype == dtype and want.shape == got.shape
            np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=1e-3, atol=1e-3)
            assert np.array_equal(got == images[i], want == images[i])  # the same pixels erased


@on_gpu
def test_heavy_recipe_on_the_gpu(make_image_folder) -> None:
    """RandAugment (ours, on the CPU), then mixing and erasing on the GPU: CUDA batches of the
    right shape, the same for the same seed."""
    needs_cuda_torch()
    data = make_image_folder([6, 6], size=(40, 52))

    def first() -> tuple[torch.Tensor, torch.Tensor]:
        spec = train_pipeline(data, batch_size=4, image_size=24, device="gpu", seed=4, mix=BOTH,
                              auto_augment="rand-m9-mstd0.5-inc1", re_prob=0.5, re_mode="pixel")
        return next(iter(DALILoader(spec)))

    images, targets = first()
    assert images.is_cuda and images.shape == (4, 3, 24, 24) and targets.shape == (4, BOTH.num_classes)
    again, _ = first()
    assert torch.equal(images, again)
