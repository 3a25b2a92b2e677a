"""Runs the mixing stage on fixed numpy batches and returns numpy results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def, types

from dali_mixup import MixConfig, mix, native, translate_errors


def cuda_available() -> bool:
    try:
        from nvidia.dali.backend import GetCUDADeviceCount

        return GetCUDADeviceCount() > 0
    except Exception:  # no driver: DALI cannot even ask
        return False


# Define pipelines with DALI's own operators instead of the stage's CPU operator.
composed = native.dalis_operators


# For tests of what only the stage's CPU operator does (test_native.py fails where a compiler
# exists but the operator does not build).
needs_cpu_operator = pytest.mark.skipif(not native.available(),
                                        reason="the stage's CPU operator is unavailable here")

# Where the stage runs: the CPU operator ("cpu"), DALI's operators on the CPU
# ("cpu-composed", the GPU path's parameters and checks) and on the GPU.
DEVICES = [
    "cpu",
    "cpu-composed",
    pytest.param("gpu", marks=[pytest.mark.gpu,
                               pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device")]),
]


@dataclass
class Mixed:
    images: np.ndarray  # (B, ...) output images
    targets: np.ndarray  # (B, C) float32
    lam: np.ndarray  # (B,) float32
    partner: np.ndarray  # (B,) int32
    cutmix: np.ndarray  # (B,) int32
    box: np.ndarray  # (B, 4) int32: top, left, height, width


def _numpy(batch) -> list[np.ndarray]:
    if hasattr(batch, "as_cpu"):
        batch = batch.as_cpu()
    return [np.array(batch[i]) for i in range(len(batch))]


def run_mix(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], config: MixConfig, *,
            device: str = "cpu", iterations: int = 1, pipeline_seed: int = 7,
            prob_per_iteration: Callable[[int], float] | None = None,
            image_layout: str | None = "HWC", conditionals: bool = False,
            real: int | None = None, **mix_options) -> list[Mixed]:
    """Run ``mix`` on the same input batch ``iterations`` times; one ``Mixed`` per run;
    ``device``: one of ``DEVICES``; ``conditionals``: in a pipeline with DALI's conditionals
    enabled; ``real``: given as ``mix(samples=...)`` (int32 per sample) when not None."""
    if device == "cpu-composed":
        with composed():
            return run_mix(images, labels, config, device="cpu", iterations=iterations,
                           pipeline_seed=pipeline_seed, prob_per_iteration=prob_per_iteration,
                           image_layout=image_layout, conditionals=conditionals, real=real,
                           **mix_options)
    batch_size = len(images)
    counter = iter(range(10**9))

    def prob_source():
        value = prob_per_iteration(next(counter))
        return [np.array(value, dtype=np.float32)] * batch_size

    @pipeline_def(batch_size=batch_size, num_threads=1, device_id=0 if device == "gpu" else None,
                  seed=pipeline_seed, prefetch_queue_depth=1, enable_conditionals=conditionals)
    def pipe():
        x = fn.external_source(source=lambda: list(images), batch=True, layout=image_layout)
        y = fn.external_source(source=lambda: list(labels), batch=True)
        if device == "gpu":
            x = x.gpu()
        if prob_per_iteration is not None:
            mix_options["prob"] = fn.external_source(source=prob_source, batch=True,
                                                     dtype=types.FLOAT, ndim=0)
        if real is not None:
            mix_options["samples"] = fn.external_source(
                source=lambda: np.full(batch_size, real, dtype=np.int32), batch=True,
                dtype=types.INT32, ndim=0)
        out, targets, params = mix(x, y, config, return_params=True, **mix_options)
        return out, targets, params.lam, params.partner, params.cutmix, params.box

    p = pipe()
    p.build()
    results = []
    for _ in range(iterations):
        with translate_errors():
            outs = p.run()
        out, targets, lam, partner, cut, box = (_numpy(o) for o in outs)
        results.append(Mixed(np.stack(out), np.stack(targets), np.stack(lam), np.stack(partner),
                             np.stack(cut), np.stack(box)))
    return results


def random_images(batch_size: int, shape=(12, 16, 3), dtype=np.uint8, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(batch_size)]
    return [rng.normal(0, 1, shape).astype(dtype) for _ in range(batch_size)]


def class_ids(batch_size: int, shape=(1,)) -> list[np.ndarray]:
    return [np.full(shape, i, dtype=np.int32) for i in range(batch_size)]


def smooth_one_hot(label: int, config: MixConfig) -> np.ndarray:
    """timm's smoothed one-hot target: off = s / C, on = 1 - s + s / C."""
    t = np.full(config.num_classes, config.off_value, dtype=np.float64)
    t[label] = config.on_value
    return t


@dataclass
class Draws:
    """Chosen random draws for every sample, in place of DALI's (see ``inject``):
    ``uniform`` float32 (B, UniformLayout.size); ``permutation`` int32 (B,) (not in pair
    mode); ``beta_mixup``/``beta_cutmix`` float32 (B,) where the config draws them."""

    uniform: np.ndarray
    permutation: np.ndarray | None = None
    beta_mixup: np.ndarray | None = None
    beta_cutmix: np.ndarray | None = None


def inject(monkeypatch: pytest.MonkeyPatch, draws: Draws) -> None:
    """Make the stage (both paths) define external sources giving ``draws`` instead of its
    random operators, for pipelines defined from now on in the test."""
    from dali_mixup import params, stage

    def source(values: np.ndarray | None, dtype, shape):
        if values is None:
            return None
        batch = [np.asarray(v, dtype=dtype).reshape(shape) for v in values]
        return fn.external_source(source=lambda: batch, batch=True)

    def random_inputs(config: MixConfig, seed) -> params.RandomInputs:
        assert draws.uniform.shape[1] == params.UniformLayout.of(config).size
        return params.RandomInputs(source(draws.uniform, np.float32, (-1,)),
                                   source(draws.permutation, np.int32, ()),
                                   source(draws.beta_mixup, np.float32, (1,)),
                                   source(draws.beta_cutmix, np.float32, (1,)))

    monkeypatch.setattr(params, "random_inputs", random_inputs)
    monkeypatch.setattr(stage, "random_inputs", random_inputs)
