"""Handing freed heap memory back to the system between epochs.

DALI's worker threads allocate and free buffers of varying size with every batch (each
random crop has its own size). glibc keeps what they free in per-thread arenas, where it
fragments: without a trim, a training process's resident memory creeps up epoch after
epoch (about 1% per epoch in ``benchmarks/soak.py``), although the memory in use does not.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None under another C library."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)  # the symbols the process has
    except OSError:
        return None


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (a few milliseconds; nothing in use
    moves). Does nothing where the C library is not glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
