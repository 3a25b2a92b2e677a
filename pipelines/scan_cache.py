"""Bad-file scan results kept on disk for large data sets, so that a restart costs a ``stat``
per file instead of reading them all again.

A result is filed under a fingerprint of every image's place, size and modification time
(and of the DALI version, whose decoder gives the verdict): any change to the data makes
a new fingerprint. ``decode`` results (every image decoded) answer ``header`` queries too,
as they find everything a header scan finds.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import nvidia.dali

from .blobs import Blob

Level = Literal["header", "decode"]
MIN_IMAGES = 5000  # smaller data sets are scanned again each time: it takes under a second
_VERSION = 1


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/dali-mixup/checks``, or under ``~/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dali-mixup" / "checks"


def fingerprint(blobs: Sequence[Blob]) -> str | None:
    """The key of ``blobs``' scan results, or None for a data set too small to cache."""
    if len(blobs) < MIN_IMAGES:
        return None
    digest = hashlib.sha256(f"{_VERSION} {nvidia.dali.__version__}\n".encode())
    stats: dict[str, str] = {}
    for blob in blobs:
        if blob.path not in stats:
            try:
                st = os.stat(blob.path)
                stats[blob.path] = f"{st.st_size} {st.st_mtime_ns}"
            except OSError:
                stats[blob.path] = "unreadable"
        digest.update(f"{blob.path}\0{blob.member}\0{blob.offset}\0{blob.size}\0"
                      f"{stats[blob.path]}\n".encode())
    return digest.hexdigest()[:32]


def _path(key: str) -> Path:
    return cache_dir() / f"{key}.json"


def _read(key: str) -> dict[str, list]:
    try:
        return json.loads(_path(key).read_text())
    except (OSError, ValueError):
        return {}


def load(key: str, level: Level) -> dict[int, str] | None:
    """Index -> reason of the images found bad at ``level`` (or deeper), None if not cached."""
    stored = _read(key)
    found = stored.get("decode", stored.get("header") if level == "header" else None)
    return None if found is None else {int(index): reason for index, reason in found}


def store(key: str, level: Level, errors: dict[int, str]) -> None:
    """File ``errors`` under ``key``; a cache that cannot be written is not an error."""
    stored = _read(key) | {level: sorted(errors.items())}
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(stored))
        partial.replace(path)  # atomic: a concurrent reader sees the old or the new file
    except OSError:
        pass
