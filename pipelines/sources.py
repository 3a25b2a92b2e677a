"""Data sources: an image folder, a file list or WebDataset shards, found and checked in Python
before any DALI reader is built, so that a wrong path fails with a message that names it.

Each source builds its own DALI reader (``Source.read``): encoded images (uint8 bytes) and
class ids (int32, shape (1,)), both on the CPU.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, Union, runtime_checkable

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath
from nvidia.dali.data_node import DataNode

from .blobs import Blob

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # matched case-insensitively
_WDS_IMAGE_EXT = "jpg;jpeg;png"
_WDS_LABEL_EXT = "cls"
_IMAGE_EXTS = frozenset(_WDS_IMAGE_EXT.split(";"))
# A .cls entry: a class id of at most 9 ASCII digits (int32), then up to 3 whitespace bytes.
_WDS_LABEL_BYTES = 12
_CLASS_ID = re.compile(rb"\d{1,9}\s{0,3}")
_MISSING_SHOWN = 5  # missing files named in an error; the rest are counted

PathLike = Union[str, "os.PathLike[str]"]


@runtime_checkable
class Source(Protocol):
    """What the pipeline factories need from a data set; implement it to plug in a reader of
    another format."""

    num_samples: int
    classes: tuple[str, ...] | None  # class names by id, where the source names them
    num_classes: int | None  # ids are in [0, num_classes), where known before reading

    def read(self, *, name: str, shard_id: int, num_shards: int,
             shuffle_seed: int | None) -> tuple[DataNode, DataNode]:
        """DALI reader outputs: encoded images and int32 (1,) class ids, on the CPU.

        ``shuffle_seed``: None reads in a fixed order; an int reshuffles the whole data set
        every epoch, identically on every shard, so shards stay disjoint. The last batch of
        a shard is padded (``pad_last_batch``) rather than taken from the next epoch. With
        a ``shuffle_seed``, shard s of S reads floor((s + 1) * N / S) - floor(s * N / S) of
        the N samples every epoch (DALI's split, as ``shuffle_after_epoch`` keeps it): the
        mixing stage counts the real samples of each batch from it.
        """
        ...


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class FileSource:
    """Image files with integer class ids: from an image folder or a file list.

    ``files``: absolute paths; ``labels``: class id of each file.
    """

    files: tuple[str, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.files or len(self.files) != len(self.labels):
            raise ValueError(f"FileSource: expected one label per file and at least one file, got "
                             f"{len(self.files)} files and {len(self.labels)} labels")
        top = len(self.classes) if self.classes is not None else None
        if min(self.labels) < 0 or (top is not None and max(self.labels) >= top):
            bound = "inf" if top is None else top
            raise ValueError(f"FileSource: labels must be class ids in [0, {bound}), got "
                             f"{min(self.labels)} to {max(self.labels)}")

    @property
    def num_samples(self) -> int:
        return len(self.files)

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.classes is not None else max(self.labels) + 1

    def read(self, *, name: str, shard_id: int, num_shards: int,
             shuffle_seed: int | None) -> tuple[DataNode, DataNode]:
        shuffle = {} if shuffle_seed is None else {
            "shuffle_after_epoch": True, "shuffle_after_epoch_seed": shuffle_seed}
        return fn.readers.file(files=list(self.files), labels=list(self.labels), name=name,
                               shard_id=shard_id, num_shards=num_shards, pad_last_batch=True,
                               **shuffle)

    def images(self) -> list[Blob]:
        """The encoded images, in sample order."""
        return [Blob(path) for path in self.files]

    def without(self, bad: Collection[Blob]) -> FileSource:
        """This source less the ``bad`` images (class ids unchanged)."""
        drop = {blob.path for blob in bad}
        kept = [(f, label) for f, label in zip(self.files, self.labels) if f not in drop]
        if not kept:
            raise ValueError(f"all {len(self.files)} images of the data set will not decode: "
                             "nothing is left to read")
        files, labels = zip(*kept)
        return replace(self, files=files, labels=labels)


@dataclass(frozen=True)
class WebDatasetSource:
    """WebDataset tar shards: samples with an image entry (jpg, jpeg or png) and a ``cls``
    entry holding the class id as ASCII decimal text."""

    paths: tuple[str, ...]
    num_samples: int
    classes: tuple[str, ...] | None = None
    num_classes: int | None = None
    # Set by ``without``: DALI index files (one per shard) that list only the samples read,
    # and the (shard, sample key) pairs left out.
    index_paths: tuple[str, ...] | None = None
    skipped: frozenset[tuple[str, str]] = frozenset()

    def read(self, *, name: str, shard_id: int, num_shards: int,
             shuffle_seed: int | None) -> tuple[DataNode, DataNode]:
        # shuffle_after_epoch only reorders whole tar files; the buffer mixes samples within them.
        shuffle = {} if shuffle_seed is None else {
            "shuffle_after_epoch": True, "shuffle_after_epoch_seed": shuffle_seed,
            "random_shuffle": True, "seed": shuffle_seed}
        images, cls = fn.readers.webdataset(
            paths=list(self.paths), ext=[_WDS_IMAGE_EXT, _WDS_LABEL_EXT],
            case_sensitive_extensions=False, missing_component_behavior="error", name=name,
            shard_id=shard_id, num_shards=num_shards, pad_last_batch=True,
            **({} if self.index_paths is None else {"index_paths": list(self.index_paths)}),
            **shuffle)
        return images, _parse_class_id(cls)

    def images(self) -> list[Blob]:
        """The image entries of the samples read, in shard order (the tar headers are
        scanned again)."""
        return [Blob(tar, member=member.name, offset=member.offset_data, size=member.size)
                for tar in self.paths for key, ext, member in _shard_entries(Path(tar))
                if ext in _IMAGE_EXTS and (tar, key) not in self.skipped]

    def without(self, bad: Collection[Blob]) -> WebDatasetSource:
        """This source less the samples of the ``bad`` images, through DALI index files
        written to a temporary folder that lives as long as this process."""
        skipped = self.skipped | {(blob.path, _split_entry(blob.member)[0]) for blob in bad}
        folder = tempfile.mkdtemp(dir=_index_folder())
        paths, index_paths, count = [], [], 0
        for number, tar in enumerate(self.paths):
            samples: dict[str, list[tarfile.TarInfo]] = {}
            for key, _, member in _shard_entries(Path(tar)):
                if (tar, key) not in skipped:
                    samples.setdefault(key, []).append(member)
            if not samples:
                continue
            index = os.path.join(folder, f"{number:06d}.idx")
            with open(index, "w", encoding="utf-8") as out:
                out.write(f"v1.2 {len(samples)}\n")
                for members in samples.values():
                    out.write(" ".join(f"{_split_entry(m.name)[1]} {m.offset_data} {m.size} {m.name}"
                                       for m in members) + "\n")
            paths.append(tar)
            index_paths.append(index)
            count += len(samples)
        if not count:
            raise ValueError(f"all {self.num_samples} samples of the data set have an image that "
                             "will not decode: nothing is left to read")
        return replace(self, paths=tuple(paths), index_paths=tuple(index_paths), num_samples=count,
                       skipped=frozenset(skipped))


def _parse_class_id(text: DataNode) -> DataNode:
    """int32 (1,) class id from a ``cls`` entry: ASCII digits, then optional whitespace (as
    checked by ``_scan_shard``). DALI has no string parsing, so: digit values, minus 48, are
    >= 0 only for digits; weight digit i of n by 10 ** (n - 1 - i) and sum."""
    padded = fn.pad(text, shape=[_WDS_LABEL_BYTES], fill_value=0)
    digits = fn.cast(padded, dtype=types.INT32) - ord("0")
    is_digit = fn.cast(digits >= 0, dtype=types.INT32)
    position = types.Constant(np.arange(_WDS_LABEL_BYTES, dtype=np.int32), device="cpu")
    weights = dmath.pow(10, fn.reductions.sum(is_digit) - 1 - position) * is_digit
    return fn.reshape(fn.reductions.sum(digits * weights), shape=[1])


# ------------------------------------------------------------------ discovery


def image_folder(root: PathLike) -> FileSource:
    """An image folder: one sub-folder per class (searched recursively), class ids in sorted
    order of the folder names, as torchvision's ``ImageFolder``. Files that are not JPEG or
    PNG (by extension, any case) and hidden files are not samples."""
    root = _existing_dir(root, "image folder")
    class_dirs = sorted((e for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")),
                        key=lambda e: e.name)
    if not class_dirs:
        raise ValueError(f"image folder {str(root)!r} has no class sub-folders: expected one "
                         "sub-folder of JPEG/PNG images per class")
    files: list[str] = []
    labels: list[int] = []
    empty: list[str] = []
    for label, entry in enumerate(class_dirs):
        found = _images_under(entry.path)
        if not found:
            empty.append(entry.name)
        files += found
        labels += [label] * len(found)
    if empty:
        raise ValueError(f"image folder {str(root)!r}: class folder(s) {', '.join(map(repr, empty))} "
                         f"contain no images: expected files ending in {', '.join(IMAGE_EXTENSIONS)}")
    return FileSource(files=tuple(files), labels=tuple(labels),
                      classes=tuple(e.name for e in class_dirs))


def _images_under(folder: str) -> list[str]:
    """The image files under ``folder``, sorted. Symbolic links are followed, but each real
    folder is entered once: a link to a parent folder would repeat its files forever."""
    seen: set[str] = set()
    found: list[str] = []
    for dirpath, dirnames, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames.clear()
            continue
        seen.add(real)
        found += (os.path.join(dirpath, name) for name in names if _is_image(name))
    return sorted(found)


def file_list(path: PathLike, *, root: PathLike | None = None) -> FileSource:
    """A text file with one ``path label`` line per image (label: a class id >= 0; the path
    may contain spaces). Relative paths are taken from ``root``, by default the list's folder.
    Blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file list {str(path)!r} does not exist")
    base = _existing_dir(root, "root") if root is not None else path.parent
    files: list[str] = []
    labels: list[int] = []
    missing: list[str] = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].isdecimal():
                raise ValueError(f"file list {str(path)!r}, line {number}: expected 'path label' "
                                 f"with an integer label >= 0, got {line.strip()!r}")
            file = os.path.join(base, parts[0].strip())
            if not os.path.isfile(file):
                missing.append(f"{file!r} (line {number})")
            files.append(os.path.abspath(file))
            labels.append(int(parts[1]))
    if missing:
        more = f" and {len(missing) - _MISSING_SHOWN} more" if len(missing) > _MISSING_SHOWN else ""
        raise FileNotFoundError(f"file list {str(path)!r} names {len(missing)} missing file(s): "
                                f"{', '.join(missing[:_MISSING_SHOWN])}{more}")
    if not files:
        raise ValueError(f"file list {str(path)!r} is empty: expected one 'path label' line per image")
    return FileSource(files=tuple(files), labels=tuple(labels))


def webdataset(paths: PathLike | Sequence[PathLike]) -> WebDatasetSource:
    """WebDataset shards: a ``.tar`` file, a folder of them, or a list of them. Every sample
    must have an image entry (jpg/jpeg/png, any case) and a ``cls`` entry; the tar headers
    are scanned to count and check the samples."""
    if isinstance(paths, (str, os.PathLike)):
        single = Path(paths)
        if single.is_dir():
            tars = sorted(p for p in single.iterdir() if p.suffix == ".tar")
            if not tars:
                raise ValueError(f"webdataset folder {str(single)!r} has no .tar shards")
        else:
            tars = [single]
    else:
        tars = [Path(p) for p in paths]
        if not tars:
            raise ValueError("webdataset: expected at least one .tar shard, got an empty list")
    count, num_classes = 0, 0
    for tar in tars:
        if not tar.is_file():
            raise FileNotFoundError(f"webdataset shard {str(tar)!r} does not exist")
        samples, max_label = _scan_shard(tar)
        count, num_classes = count + samples, max(num_classes, max_label + 1)
    if count == 0:
        raise ValueError(f"webdataset shard(s) {', '.join(map(str, tars))} contain no samples")
    return WebDatasetSource(paths=tuple(str(t.resolve()) for t in tars), num_samples=count,
                            num_classes=num_classes)


def _split_entry(name: str) -> tuple[str, str]:
    """(sample key, extension) of a tar entry, as DALI splits them: at the first dot of the
    file name."""
    folder, base = os.path.split(name)
    key, ext = base.split(".", 1)
    return os.path.join(folder, key), ext


def _shard_entries(tar: Path) -> Iterator[tuple[str, str, tarfile.TarInfo]]:
    """(sample key, lower-case extension, entry) for each file of a shard that belongs to a
    sample: not hidden, with an extension. Raises ValueError where the tar is unreadable."""
    try:
        with tarfile.open(tar, "r:") as archive:
            for member in archive:
                name = os.path.basename(member.name)
                if member.isfile() and not name.startswith(".") and "." in name:
                    key, ext = _split_entry(member.name)
                    yield key, ext.lower(), member
    except tarfile.TarError as error:
        raise ValueError(f"webdataset shard {str(tar)!r} is not a readable tar file: {error}") from None


def _scan_shard(tar: Path) -> tuple[int, int]:
    """The number of samples in one shard and their largest class id. Raises ValueError
    naming the first sample without an image, or without a readable class id."""
    entries: dict[str, set[str]] = {}
    max_label = -1
    with open(tar, "rb") as file:
        for key, ext, member in _shard_entries(tar):
            entries.setdefault(key, set()).add(ext)
            if ext == _WDS_LABEL_EXT:
                file.seek(member.offset_data)
                text = file.read(min(member.size, _WDS_LABEL_BYTES + 1))
                if not _CLASS_ID.fullmatch(text):
                    raise ValueError(f"webdataset shard {str(tar)!r}: sample {key!r} has a "
                                     f"{_WDS_LABEL_EXT!r} entry {text!r}: expected a class id "
                                     "of 1 to 9 ASCII digits")
                max_label = max(max_label, int(text))
    for key, exts in entries.items():
        if not exts & _IMAGE_EXTS or _WDS_LABEL_EXT not in exts:
            raise ValueError(f"webdataset shard {str(tar)!r}: sample {key!r} has entries "
                             f"{sorted(exts)}: expected an image ({', '.join(sorted(_IMAGE_EXTS))}) "
                             f"and a {_WDS_LABEL_EXT!r} entry")
    return len(entries), max_label


@functools.cache
def _index_folder() -> str:
    """A temporary folder for DALI index files, removed when the process exits."""
    folder = tempfile.mkdtemp(prefix="dali-mixup-index-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def open_source(source: PathLike | Sequence[PathLike] | Source) -> Source:
    """The data set behind ``source``:

    - a ``Source`` (from ``image_folder``, ``file_list``, ``webdataset``, or your own): itself;
    - a folder of class sub-folders: ``image_folder``; a folder of ``.tar`` files, a ``.tar``
      file or a list of them: ``webdataset``; any other file: ``file_list``.
    """
    if isinstance(source, Source):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            if not any(not p.name.startswith(".") for p in path.iterdir()):
                raise ValueError(f"data folder {str(path)!r} is empty: expected one sub-folder of "
                                 "images per class, or WebDataset .tar shards")
            has_tars = any(p.suffix == ".tar" for p in path.iterdir())
            has_dirs = any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())
            return webdataset(path) if has_tars and not has_dirs else image_folder(path)
        if not path.exists():
            raise FileNotFoundError(f"data source {str(path)!r} does not exist")
        return webdataset(path) if path.suffix == ".tar" else file_list(path)
    if isinstance(source, Sequence) and all(isinstance(p, (str, os.PathLike)) for p in source):
        return webdataset(source)
    raise TypeError("source: expected a path (image folder, file list, .tar shard or folder of "
                    f"shards), a list of .tar shards or a Source, got {type(source).__name__}")


def _existing_dir(path: PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"{what} {str(path)!r} is not a directory")
    return path
