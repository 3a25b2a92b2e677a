"""Pillow as the resampler's reference, shared by the resample tests: photo-like test images,
Pillow's own resize, and the comparison the tests hold outputs to."""

from __future__ import annotations

import numpy as np
import PIL
from PIL import Image

from _bench import load_benchmark

FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
# Pillow 13 resamples the height first where it shrinks by more than twice as many pixels as the
# width, as the operator does; older Pillows always go width first, and the two orders round
# apart by a level here and there.
PILLOW_ORDER = int(PIL.__version__.split(".")[0]) >= 13


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 (height, width, 3), photo-like (pink-noise shading, shapes, blur, grain)."""
    image = load_benchmark("synthetic").make_image(np.random.default_rng(seed), class_id=seed % 7)
    return np.ascontiguousarray(np.asarray(image.resize((width, height), Image.Resampling.BICUBIC)))


def pillow(image: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    """Pillow's resize of an HWC image, channel by channel for counts Pillow has no mode for."""
    if image.shape[2] == 3:
        return np.asarray(Image.fromarray(image).resize(size[::-1], FILTERS[interpolation]))
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c]))
                                .resize(size[::-1], FILTERS[interpolation]))
                     for c in range(image.shape[2])], axis=-1)


def assert_like_pillow(out: np.ndarray, ref: np.ndarray, what: str) -> None:
    """Equal to Pillow 13's bytes; with an older Pillow, within the bound of one level per pixel
    and 0.1 on average."""
    diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
    assert out.shape == ref.shape and out.dtype == np.uint8, what
    if PILLOW_ORDER:
        assert diff.max() == 0, f"{what}: {np.count_nonzero(diff)} pixels differ from Pillow"
    assert diff.max() <= 1 and diff.mean() <= 0.1, f"{what}: max {diff.max()}, mean {diff.mean():.3f}"
