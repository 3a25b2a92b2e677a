"""Freed heap memory goes back to the system when the loader ends an epoch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dali_mixup.memory import _malloc_trim

# Run in a fresh process: a test process's heap, shared with other tests' threads, moves
# under the measurement.
MEASURE = '''
import ctypes, os
from dali_mixup.memory import release_free_memory

CHUNK, COUNT = 16384, 10_000  # 160 MB in chunks that glibc takes from its heap, not from mmap

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
# Freed chunks between live ones: holes the allocator keeps, as DALI's threads leave them.
holes, pins = [], []
for _ in range(COUNT):
    holes.append(libc.malloc(CHUNK))
    ctypes.memset(holes[-1], 1, CHUNK)
    pins.append(libc.malloc(64))
for hole in holes:
    libc.free(hole)
kept = rss()
release_free_memory()
print(COUNT * CHUNK, kept - rss())
'''


@pytest.mark.skipif(_malloc_trim() is None or not Path("/proc/self/statm").exists(),
                    reason="needs glibc and /proc")
def test_freed_heap_pages_are_returned() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-c", MEASURE], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    freed, returned = map(int, run.stdout.split())
    assert returned > freed // 2, (freed, returned)
