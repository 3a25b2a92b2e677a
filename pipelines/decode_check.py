"""The decoder's verdict: which encoded images DALI cannot decode, and why.

Decodes with DALI's own CPU decoder in batches, in parallel on its threads. Only the 1 x 1
bottom-right corner is kept: region decoding still reads the whole code stream, so a
truncated or corrupt image fails as in a full decode, while memory stays flat whatever
the image size. A batch that fails is decoded again image by image to name the culprits
(a failed DALI pipeline is rebuilt, which takes milliseconds); libjpeg and libpng say
why on the process's stderr, which is read back meanwhile for the reason given.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from nvidia.dali import Pipeline, fn, types
from tqdm import tqdm

from .blobs import Blob, unreadable

BATCH = 64
_INPUT = "encoded"
_CAUSE = re.compile(r"encountered:\s*\n\s*(.+)")
_NVIMGCODEC = re.compile(r"nvImageCodec failure: '#(\d+)'")
_LOG_PREFIX = re.compile(r"^(\x1b\[[0-9;]*m|\[\w+\]\s*)+")  # colours, [ERROR] [decoder]
# nvImageCodec's status codes (nvimgcodecStatus_t) as the decoder reports them.
_STATUS = {2: "invalid image header (the decoder finds no usable size or format)",
           3: "corrupt image data (the decoder reports a bad code stream)",
           4: "unsupported image format or variant"}


def decoder_reason(error: BaseException, log: str = "") -> str:
    """A short reason from DALI's error for one image that failed to decode, with the last
    line the decoding libraries wrote to stderr meanwhile (``log``) as detail."""
    text = str(error)
    cause = _CAUSE.search(text)
    line = cause.group(1).strip() if cause else text.strip().splitlines()[-1]
    status = _NVIMGCODEC.search(line)
    if status:
        code = int(status.group(1))
        reason = _STATUS.get(code, f"the decoder fails (nvImageCodec status {code})")
    elif line.startswith("Failed to decode sample"):
        reason = "corrupt or truncated image data: the decoder stops partway"
    else:
        reason = f"the decoder fails: {line}"
    details = [_LOG_PREFIX.sub("", row).strip() for row in log.splitlines()]
    details = [row for row in details if row]
    return f"{reason} ({details[-1]})" if details else reason


@contextlib.contextmanager
def _stderr_captured(into: list[str]) -> Iterator[None]:
    """Append what is written to file descriptor 2 meanwhile to ``into``, instead of showing
    it; a process without a usable descriptor 2 shows it as usual."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            into.append(capture.read().decode(errors="replace"))


class _Decoder:
    """A CPU pipeline that decodes the batches fed to it; rebuilt after a failure."""

    def __init__(self, num_threads: int) -> None:
        self._num_threads = num_threads
        self._pipe: Pipeline | None = None

    def _run(self, encoded: list[np.ndarray]) -> None:
        if self._pipe is None:
            pipe = Pipeline(batch_size=BATCH, num_threads=self._num_threads, device_id=None,
                            prefetch_queue_depth=1)
            with pipe:
                data = fn.external_source(name=_INPUT, dtype=types.UINT8, ndim=1)
                pipe.set_outputs(fn.decoders.image_crop(data, output_type=types.RGB, crop=(1, 1),
                                                        crop_pos_x=1.0, crop_pos_y=1.0))
            pipe.build()
            self._pipe = pipe
        self._pipe.feed_input(_INPUT, encoded)
        try:
            self._pipe.run()
        except RuntimeError:
            self._pipe = None  # DALI: "Current pipeline object is no longer valid"
            raise

    def failures(self, batch: list[tuple[int, np.ndarray]]) -> dict[int, str]:
        """Index -> reason for the images of ``batch`` (index, encoded) that fail."""
        if len(batch) == 1:
            log: list[str] = []
            try:
                with _stderr_captured(log):
                    self._run([batch[0][1]])
                return {}
            except RuntimeError as error:
                return {batch[0][0]: decoder_reason(error, "".join(log))}
        try:
            self._run([encoded for _, encoded in batch])
            return {}
        except RuntimeError:
            pass
        found: dict[int, str] = {}
        for item in batch:
            found.update(self.failures([item]))
        return found


def _load(blob: Blob) -> np.ndarray | str:
    try:
        return np.frombuffer(blob.read(), dtype=np.uint8)
    except OSError as error:
        return unreadable(blob.path, error)


def decode_errors(blobs: Sequence[Blob], *, num_threads: int | None = None,
                  progress: bool = False) -> dict[int, str]:
    """Index -> reason for each of ``blobs`` that DALI's decoder rejects or that cannot be
    read. ``num_threads``: decoding (and reading) threads, default the usable cores;
    ``progress``: a progress bar on stderr."""
    threads = num_threads or len(os.sched_getaffinity(0))
    decoder = _Decoder(threads)
    errors: dict[int, str] = {}
    with ThreadPoolExecutor(threads) as reader, \
            tqdm(total=len(blobs), unit="image", desc="decoding", disable=not progress) as bar:
        for start, loaded in _read_ahead(reader, blobs):
            batch = []
            for index, item in enumerate(loaded, start):
                if isinstance(item, str):
                    errors[index] = item
                elif item.size == 0:  # DALI takes no empty sample
                    errors[index] = "empty file (0 bytes)"
                else:
                    batch.append((index, item))
            if batch:
                errors.update(decoder.failures(batch))
            bar.update(len(loaded))
    return errors


def _read_ahead(reader: ThreadPoolExecutor,
                blobs: Sequence[Blob]) -> Iterator[tuple[int, list[np.ndarray | str]]]:
    """(first index, loaded blobs) per batch; the next batch is read while this one decodes."""
    starts = range(0, len(blobs), BATCH)
    pending = None
    for start in starts:
        current = pending if pending is not None else reader.map(_load, blobs[start:start + BATCH])
        following = start + BATCH
        pending = reader.map(_load, blobs[following:following + BATCH]) if following < len(blobs) else None
        yield start, list(current)
