"""A built-in, ImageNet-like image folder, generated once from a seed and cached.

Images are JPEGs of about 500 x 375 pixels in varied aspect ratios, saved at
quality 90 with 4:2:0 chroma subsampling. Their content follows natural-photo
statistics (a 1/f amplitude spectrum, colour correlated across channels, hard
object edges, fine texture and sensor noise), so decoding them costs about
what decoding real photos costs. Each class has its own palette, spectral
slope and shape kind, so the labels carry signal.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Bump when the generator changes, so a stale cache is never reused.
GENERATOR_VERSION = 1

# (width, height) ratios seen most often in ImageNet, landscape first.
_ASPECTS = (4 / 3, 4 / 3, 4 / 3, 3 / 2, 3 / 2, 1.0, 5 / 4, 16 / 9, 3 / 4, 2 / 3)


@dataclass(frozen=True, kw_only=True)
class SyntheticSpec:
    """What to generate: the cache key is derived from every field."""

    num_classes: int = 10
    images_per_class: int = 128
    seed: int = 0
    quality: int = 90

    def __post_init__(self) -> None:
        if self.num_classes < 1 or self.images_per_class < 1:
            raise ValueError(
                f"SyntheticSpec: expected num_classes >= 1 and images_per_class >= 1, "
                f"got {self.num_classes} and {self.images_per_class}"
            )
        if not 1 <= self.quality <= 100:
            raise ValueError(f"SyntheticSpec.quality: expected 1..100, got {self.quality}")

    @property
    def key(self) -> str:
        """A short, stable name for this spec's cache folder."""
        blob = json.dumps({**asdict(self), "version": GENERATOR_VERSION}, sort_keys=True)
        return f"synthetic-v{GENERATOR_VERSION}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/dali-mixup`` or ``~/.cache/dali-mixup``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dali-mixup"


def ensure_dataset(
    spec: SyntheticSpec = SyntheticSpec(), *, cache_dir: Path | None = None, workers: int | None = None
) -> Path:
    """Return the root of the image folder for ``spec``, generating it on first use.

    The folder has one sub-folder per class (``class_00``, ``class_01``, ...), as
    torchvision's ``ImageFolder`` expects. Generation writes to a temporary folder
    that is renamed into place only when complete, so an interrupted run leaves
    no half-written cache behind.
    """
    root = (cache_dir or default_cache_dir()) / spec.key
    if (root / "manifest.json").is_file():
        return root
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    jobs = [(spec, tmp, c, i) for c in range(spec.num_classes) for i in range(spec.images_per_class)]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        sizes = list(pool.map(_write_one, jobs, chunksize=16))
    manifest = {**asdict(spec), "version": GENERATOR_VERSION, "images": len(sizes), "bytes": sum(sizes)}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    try:
        tmp.rename(root)
    except OSError:  # another process finished the same spec first
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _write_one(job: tuple[SyntheticSpec, Path, int, int]) -> int:
    """Generate and save one image; return its file size in bytes."""
    spec, root, class_id, index = job
    rng = np.random.default_rng([spec.seed, class_id, index])
    folder = root / f"class_{class_id:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{index:05d}.jpg"
    make_image(rng, class_id=class_id).save(path, quality=spec.quality, subsampling="4:2:0")
    return path.stat().st_size


def make_image(rng: np.random.Generator, *, class_id: int) -> Image.Image:
    """One RGB photo-like image; its look depends on ``class_id``, its details on ``rng``."""
    width, height = _draw_size(rng)
    style = np.random.default_rng(class_id)  # the class's fixed palette and slope
    palette = style.uniform(30, 225, size=(4, 3))
    slope = style.uniform(1.8, 2.4)  # power-spectrum exponent; natural images sit near 2
    lum, c1, c2 = (_pink_noise(rng, height, width, slope=slope) for _ in range(3))
    base = palette[rng.integers(len(palette))] + 30 * lum[..., None]
    chroma = 0.15 * (palette[1:3] - palette[0])  # photos vary far less in hue than in brightness
    picture = Image.fromarray(_to_uint8(base + c1[..., None] * chroma[0] + c2[..., None] * chroma[1]))
    _draw_shapes(rng, picture, kind=class_id % 3, palette=palette)
    picture = picture.filter(ImageFilter.GaussianBlur(radius=0.6))  # lens blur on edges
    # Shading over everything, objects included, then grain and sensor noise.
    shade = 18 * _pink_noise(rng, height, width, slope=slope)[..., None]
    pixels = np.asarray(picture, dtype=np.float32) + shade + _texture(rng, height, width)
    return Image.fromarray(_to_uint8(pixels))


def _draw_size(rng: np.random.Generator) -> tuple[int, int]:
    """(width, height) around 500 x 375 with one of ImageNet's common aspect ratios."""
    long_side = int(rng.integers(440, 561))
    aspect = float(rng.choice(_ASPECTS)) * rng.uniform(0.95, 1.05)
    if aspect >= 1:
        return long_side, max(16, round(long_side / aspect))
    return max(16, round(long_side * aspect)), long_side


def _pink_noise(rng: np.random.Generator, height: int, width: int, *, slope: float) -> np.ndarray:
    """A unit-variance field whose power spectrum falls as 1/f^slope, as in photos."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    amplitude = radius ** (-slope / 2)
    amplitude[0, 0] = 0.0
    spectrum = amplitude * np.exp(2j * np.pi * rng.random(amplitude.shape))
    field = np.fft.irfft2(spectrum, s=(height, width))
    return field / field.std()


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _draw_shapes(rng: np.random.Generator, picture: Image.Image, *, kind: int, palette: np.ndarray) -> None:
    """Objects with hard edges: ellipses, polygons or stripes, depending on ``kind``."""
    draw = ImageDraw.Draw(picture)
    width, height = picture.size
    for _ in range(int(rng.integers(3, 9))):
        colour = tuple(int(v) for v in np.clip(palette[rng.integers(len(palette))] + rng.normal(0, 25, 3), 0, 255))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        size = rng.uniform(0.05, 0.35) * min(width, height)
        if kind == 0:
            ry = size * rng.uniform(0.5, 1.5)
            draw.ellipse([cx - size, cy - ry, cx + size, cy + ry], fill=colour)
        elif kind == 1:
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
            radii = size * rng.uniform(0.5, 1.0, angles.size)
            draw.polygon(list(zip(cx + radii * np.cos(angles), cy + radii * np.sin(angles))), fill=colour)
        else:
            step = max(2, int(size / 4))
            for offset in range(-int(size), int(size), 2 * step):
                draw.line([cx + offset, cy - size, cx + offset + size / 2, cy + size], fill=colour, width=step)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Fine grain and sensor noise, the high frequencies that make JPEG entropy coding work."""
    grain = rng.normal(0.0, 2.5, size=(height, width, 1)).astype(np.float32)
    noise = rng.normal(0.0, 1.5, size=(height, width, 3)).astype(np.float32)
    return grain + noise
