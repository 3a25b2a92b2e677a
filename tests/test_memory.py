"""Freed heap memory goes back to the system when the loader ends an epoch."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pytest

from dali_mixup.memory import _malloc_trim, release_free_memory

CHUNK, COUNT = 16384, 10_000  # 160 MB in chunks that glibc takes from its heap, not from mmap


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(_malloc_trim() is None or not Path("/proc/self/statm").exists(),
                    reason="needs glibc and /proc")
def test_freed_heap_pages_are_returned() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # Freed chunks between live ones: holes the allocator keeps, as DALI's threads leave them.
    holes, pins = [], []
    for _ in range(COUNT):
        holes.append(libc.malloc(CHUNK))
        ctypes.memset(holes[-1], 1, CHUNK)
        pins.append(libc.malloc(64))
    try:
        for hole in holes:
            libc.free(hole)
        kept = rss_bytes()
        release_free_memory()
        assert kept - rss_bytes() > COUNT * CHUNK // 2
    finally:
        for pin in pins:
            libc.free(pin)
