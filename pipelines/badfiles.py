"""Images that will not decode: found before a pipeline is built, named when DALI stops on
one, or left out on request.

Two scans, both with DALI's decoder as the judge (``decode_check``):

- ``header``: reads each file's header and end (``sniff``) and decodes only the suspects.
  It costs about one small read per file and finds empty, truncated and non-image files,
  and broken headers: what the factories run on every data set.
- ``decode``: decodes every image. It finds everything the decoder rejects, corrupt image
  data included: what ``dali-mixup check`` and ``skip_bad_files=True`` run.

Results for large data sets are cached (``scan_cache``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import scan_cache
from .blobs import Blob
from .decode_check import decode_errors, decoder_reason
from .sources import FileSource, Source, WebDatasetSource

_log = logging.getLogger("pipelines")
_SHOWN = 20  # bad files named in an error message; the rest are counted
_CHUNK = 512  # files sniffed per task of the header scan
# A DALI error raised by a reader or a decoder: the data, not the graph, is at fault.
_DATA_OPERATOR = re.compile(r"operator `nvidia\.dali\.fn\.(?:experimental\.)?(?:decoders|readers)\.")
# DALI names the file in some of its errors (the reader's source info).
_NAMED = re.compile(r"(?:Failed to decode sample #\d+|File mapping failed) ?: ?(\S.*)")


@dataclass(frozen=True)
class BadFile:
    """An image that will not decode (``blob``: a file, or an entry of a tar shard), and why."""

    blob: Blob
    reason: str

    def __str__(self) -> str:
        return f"{self.blob}: {self.reason}"


class BadFileError(ValueError):
    """Images of the data set that will not decode; ``bad_files`` lists each with its reason."""

    def __init__(self, bad_files: Sequence[BadFile]) -> None:
        self.bad_files = tuple(bad_files)
        lines = [f"  {bad}" for bad in self.bad_files[:_SHOWN]]
        if len(self.bad_files) > _SHOWN:
            lines.append(f"  and {len(self.bad_files) - _SHOWN} more")
        super().__init__(
            f"{len(self.bad_files)} image(s) of the data set will not decode:\n" + "\n".join(lines)
            + "\nremove or replace them, or pass skip_bad_files=True to leave them out "
            "('python -m dali_mixup check DATA' lists them all)")


_CHECKED = (FileSource, WebDatasetSource)  # the sources that list their encoded images


def _images(source: Source) -> list[Blob] | None:
    """The encoded images of the sources this module can check; None for other sources."""
    return source.images() if isinstance(source, _CHECKED) else None


def _judged(blobs: Sequence[Blob], errors: dict[int, str]) -> dict[int, str]:
    """``errors`` (the decoder's), with the reason ``sniff`` gives where it finds one."""
    return {i: blobs[i].problem() or reason for i, reason in errors.items()}


def _header_scan(blobs: Sequence[Blob], num_threads: int) -> dict[int, str]:
    def sniff(start: int) -> list[tuple[int, str]]:
        found = ((i, blobs[i].problem()) for i in range(start, min(start + _CHUNK, len(blobs))))
        return [(i, problem) for i, problem in found if problem]

    with ThreadPoolExecutor(num_threads) as pool:  # reading waits on the disk, not the GIL
        suspects = dict(p for chunk in pool.map(sniff, range(0, len(blobs), _CHUNK)) for p in chunk)
    order = sorted(suspects)
    failed = decode_errors([blobs[i] for i in order], num_threads=num_threads)
    return {order[k]: suspects[order[k]] for k in failed}


def find_bad_files(source: Source, *, decode: bool, num_threads: int | None = None,
                   progress: bool = False) -> list[BadFile] | None:
    """The images of ``source`` that DALI will not decode, in the source's order, each with
    its reason; None for a source that is neither an image folder, a file list nor
    WebDataset shards.

    ``decode``: decode every image (thorough), or only those whose header or end looks
    wrong (fast). ``num_threads``: default the usable cores; ``progress``: a progress bar
    on stderr while decoding.
    """
    blobs = _images(source)
    if blobs is None:
        return None
    level: scan_cache.Level = "decode" if decode else "header"
    key = scan_cache.fingerprint(blobs)
    errors = scan_cache.load(key, level) if key else None
    if errors is None:
        threads = num_threads or len(os.sched_getaffinity(0))
        if decode:
            errors = _judged(blobs, decode_errors(blobs, num_threads=threads, progress=progress))
        else:
            errors = _header_scan(blobs, threads)
        if key:
            scan_cache.store(key, level, errors)
    return [BadFile(blobs[i], reason) for i, reason in sorted(errors.items())]


def screen(source: Source, *, skip_bad_files: bool, num_threads: int | None = None) -> Source:
    """``source`` checked before it is read. By default, raises ``BadFileError`` naming every
    image the header scan finds bad; with ``skip_bad_files``, decodes every image instead
    and returns the source without the bad ones, naming each in a logged warning."""
    if not isinstance(skip_bad_files, bool):
        raise TypeError(f"skip_bad_files: expected a bool, got {skip_bad_files!r}")
    bad = find_bad_files(source, decode=skip_bad_files, num_threads=num_threads)
    if not bad:
        return source
    if not skip_bad_files:
        raise BadFileError(bad)
    _log.warning("leaving out %d image(s) that will not decode:\n%s", len(bad),
                 "\n".join(f"  {b}" for b in bad))
    return source.without([b.blob for b in bad])


def diagnose(source: Source, error: BaseException) -> BadFileError | None:
    """The ``BadFileError`` behind a DALI ``error`` raised while reading or decoding
    ``source``, or None for another error (or where no image is found bad)."""
    text = str(error)
    if not _DATA_OPERATOR.search(text) or not isinstance(source, _CHECKED):
        return None
    named = _NAMED.search(text)
    path = named.group(1).strip() if named else None
    if isinstance(source, FileSource) and path in source.files:
        blob = Blob(path)
        return BadFileError([BadFile(blob, blob.problem() or decoder_reason(error))])
    _log.warning("DALI stopped on an image it could not read or decode; decoding every image "
                 "of the data set to name it")
    bad = find_bad_files(source, decode=True)
    return BadFileError(bad) if bad else None

