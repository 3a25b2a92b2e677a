"""Shared fixtures: small data sets written on the fly (image folder, file list, WebDataset
shards), with pixels that are random but fixed by each image's index."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def random_pixels(index: int, size: tuple[int, int], channels: int = 3) -> np.ndarray:
    """uint8 (H, W, channels), the same for the same index."""
    shape = size if channels == 1 else (*size, channels)
    return np.random.default_rng(index).integers(0, 256, shape, dtype=np.uint8)


def encode(pixels: np.ndarray, ext: str) -> bytes:
    """PNG (lossless) or JPEG (quality 95) bytes of an (H, W[, C]) uint8 array."""
    buffer = io.BytesIO()
    fmt = "PNG" if ext.lower() == "png" else "JPEG"
    Image.fromarray(pixels).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


ImageFolderFactory = Callable[..., Path]


@pytest.fixture
def make_image_folder(tmp_path: Path) -> ImageFolderFactory:
    """``make(counts, *, size=(24, 32), ext="png", channels=3, pixels=None, name="folder")``:
    a folder with one sub-folder per class (``counts``: images per class, in class-id order,
    classes named c0, c1, ...); image ``i`` (counting through the classes) of class ``c`` is
    ``pixels(i, c)``, by default ``random_pixels(i, size, channels)``."""

    def make(counts: Sequence[int], *, size: tuple[int, int] = (24, 32), ext: str = "png",
             channels: int = 3, pixels: Callable[[int, int], np.ndarray] | None = None,
             name: str = "folder") -> Path:
        root = tmp_path / name
        index = 0
        for label, count in enumerate(counts):
            (root / f"c{label}").mkdir(parents=True)
            for i in range(count):
                image = pixels(index, label) if pixels else random_pixels(index, size, channels)
                (root / f"c{label}" / f"{i:04d}.{ext}").write_bytes(encode(image, ext))
                index += 1
        return root

    return make


@pytest.fixture
def make_file_list(tmp_path: Path) -> Callable[..., Path]:
    """``make(n, *, labels=None, size=(24, 32), ext="png")``: a file list of n images under
    ``images/``; image i is ``random_pixels(i, size)`` with label ``labels[i]`` (default i,
    so the label identifies the sample)."""

    def make(n: int, *, labels: Sequence[int] | None = None, size: tuple[int, int] = (24, 32),
             ext: str = "png") -> Path:
        (tmp_path / "images").mkdir(exist_ok=True)
        labels = range(n) if labels is None else labels
        lines = []
        for i, label in enumerate(labels):
            (tmp_path / "images" / f"{i:04d}.{ext}").write_bytes(encode(random_pixels(i, size), ext))
            lines.append(f"images/{i:04d}.{ext} {label}\n")
        path = tmp_path / "list.txt"
        path.write_text("".join(lines))
        return path

    return make


def write_tar(path: Path, members: Sequence[tuple[str, bytes]]) -> Path:
    """A tar file holding ``(name, data)`` members in this order."""
    with tarfile.open(path, "w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def make_webdataset(tmp_path: Path) -> Callable[..., Path]:
    """``make(n, *, shards=2, labels=None, size=(24, 32), ext="png")``: a folder of WebDataset
    shards; sample i (key ``s{i:04d}``) has ``random_pixels(i, size)`` and the class id
    ``labels[i]`` (default i) as ASCII text, samples dealt to shards in order."""

    def make(n: int, *, shards: int = 2, labels: Sequence[int] | None = None,
             size: tuple[int, int] = (24, 32), ext: str = "png") -> Path:
        root = tmp_path / "shards"
        root.mkdir()
        labels = list(range(n)) if labels is None else list(labels)
        per_shard = -(-n // shards)
        for s in range(shards):
            members = []
            for i in range(s * per_shard, min(n, (s + 1) * per_shard)):
                members.append((f"s{i:04d}.{ext}", encode(random_pixels(i, size), ext)))
                members.append((f"s{i:04d}.cls", str(labels[i]).encode()))
            write_tar(root / f"shard-{s:03d}.tar", members)
        return root

    return make


@pytest.fixture
def tar_writer() -> Callable[[Path, Sequence[tuple[str, bytes]]], Path]:
    """``write(path, [(name, data), ...])``: a tar file with these members, in order."""
    return write_tar


# ------------------------------------------------------------------ odd and bad images


def smooth_pixels(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """uint8 (H, W, 3): coarse random blocks upsampled, so JPEG keeps them well."""
    coarse = np.random.default_rng(seed).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize(size[::-1], Image.BILINEAR))


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def odd_images() -> dict[str, bytes]:
    """Unusual but valid images by file name, each decodable to RGB (as Pillow's
    ``convert("RGB")``, except 16-bit PNG, which decoders scale to 8 bits)."""
    rgb = Image.fromarray(smooth_pixels((24, 32)))
    sixteen = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    return {
        "rgb.png": _save(rgb, "PNG"),
        "rgba.png": _save(rgb.convert("RGBA"), "PNG"),
        "palette.png": _save(rgb.convert("P"), "PNG"),
        "sixteen-bit.png": _save(Image.fromarray(sixteen), "PNG"),
        "gray.jpg": _save(rgb.convert("L"), "JPEG", quality=95),
        "cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG", quality=95),
        "progressive.jpg": _save(rgb, "JPEG", quality=95, progressive=True),
        "one-pixel.png": _save(rgb.resize((1, 1)), "PNG"),
        "UPPER.JPG": _save(rgb, "JPEG", quality=95),
        "png-named.jpg": _save(rgb, "PNG"),  # the decoder goes by content, not by name
        "trailer.jpg": _save(rgb, "JPEG", quality=95) + b"\0" * 5000,  # data after the end marker
    }


def bad_images() -> dict[str, tuple[bytes, str]]:
    """Images that will not decode by file name: (content, the reason given, as a regex).
    All but ``huffman.jpg`` are found from their header and end alone."""
    jpeg = _save(Image.fromarray(smooth_pixels((24, 32))), "JPEG", quality=95)
    png = _save(Image.fromarray(smooth_pixels((24, 32))), "PNG")
    corrupt = jpeg[:2] + b"\0" * 38 + jpeg[40:]
    table = jpeg.index(b"\xff\xc4")  # the first Huffman table: its code counts made impossible
    huffman = jpeg[:table + 5] + b"\xff" * 16 + jpeg[table + 21:]
    return {
        "corrupt.jpg": (corrupt, r"corrupt JPEG header: expected a marker at byte 2, found 0000"),
        "truncated.jpg": (jpeg[:jpeg.index(b"\xff\xda") + 20],  # cut inside the image data
                          r"truncated JPEG: the end-of-image marker \(ffd9\) is missing"),
        "truncated.png": (png[:len(png) // 2], r"truncated PNG: the end chunk \(IEND\) is missing"),
        "empty.jpg": (b"", r"empty file \(0 bytes\)"),
        "text.jpg": (b"just some notes\n", r"not an image: the file starts with b'just some notes\\n', "
                                           r"not with a JPEG or PNG signature"),
        "animation.jpg": (_save(Image.new("P", (4, 4)), "GIF"), r"GIF image: DALI decodes JPEG, PNG, "
                                                                r"BMP, TIFF, WebP, JPEG 2000 and PNM, not GIF"),
        "huffman.jpg": (huffman, r"corrupt or truncated image data: the decoder stops partway"),
    }


HEADER_VISIBLE = sorted(set(bad_images()) - {"huffman.jpg"})


@pytest.fixture
def make_corpus(tmp_path: Path) -> Callable[..., Path]:
    """``make(*, bad=True, name="corpus")``: an image folder with class ``odd`` (every
    ``odd_images()`` file, a symbolic link to one of them and a text file that is not a
    sample) and, with ``bad``, class ``bad`` (every ``bad_images()`` file and a broken
    symbolic link ``dangling.jpg``)."""

    def make(*, bad: bool = True, name: str = "corpus") -> Path:
        root = tmp_path / name
        (root / "odd").mkdir(parents=True)
        for file, data in odd_images().items():
            (root / "odd" / file).write_bytes(data)
        (root / "odd" / "link.png").symlink_to(root / "odd" / "rgb.png")
        (root / "odd" / "notes.txt").write_text("not a sample")
        if bad:
            (root / "bad").mkdir()
            for file, (data, _) in bad_images().items():
                (root / "bad" / file).write_bytes(data)
            (root / "bad" / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
        return root

    return make
