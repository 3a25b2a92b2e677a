"""Where and how a pipeline runs: device, shard, threads and seeds, from the arguments or, by
default, from the machine and the ``torchrun`` environment."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
from nvidia.dali import backend

Device = Literal["cpu", "gpu"]
DEVICES = ("cpu", "gpu")
_log = logging.getLogger("pipelines")


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """Run-time settings of a pipeline, apart from what its graph computes.

    ``device``: "gpu" decodes with nvImageCodec ('mixed') and augments on ``device_id``;
    "cpu" runs everything on the CPU (``device_id`` None). ``seed`` is the user's seed; the
    DALI seeds derive from it (``reader_seed``, ``pipeline_seed``).
    """

    batch_size: int
    num_threads: int
    device: Device
    device_id: int | None
    seed: int
    shard_id: int
    num_shards: int

    @property
    def reader_seed(self) -> int:
        """The shuffling seed: the same on every shard, so shards of one epoch stay disjoint."""
        return _derive(self.seed, 0)

    @property
    def pipeline_seed(self) -> int:
        """The seed of crops, flips and mixing: one per shard, so each rank draws its own."""
        return _derive(self.seed, 1, self.shard_id)


def _derive(*words: int) -> int:
    return int(np.random.SeedSequence(list(words)).generate_state(1)[0] & 0x7FFF_FFFF)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return value


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None:
        return None
    if not text.isdecimal():
        raise ValueError(f"environment variable {name}={text!r}: expected an integer >= 0")
    return int(text)


@functools.cache
def _cuda_devices() -> int:
    count = backend.GetCUDADeviceCount()
    _log.info("DALI pipelines run on the %s", f"GPU ({count} CUDA device(s) found)" if count
              else "CPU (no CUDA device found)")
    return count


def resolve_runtime(*, batch_size: int, num_threads: int | None, device: Device | None,
                    seed: int, shard_id: int | None, num_shards: int | None) -> Runtime:
    """Check the run-time arguments and fill the defaults, before any data is read (the
    shard count is checked against the data by ``check_shards``).

    ``device`` None: the GPU where DALI finds one (logged once), else the CPU. ``shard_id``/
    ``num_shards`` None: ``RANK``/``WORLD_SIZE`` as ``torchrun`` sets them, else 0 and 1;
    the GPU is ``LOCAL_RANK``. ``num_threads`` None: the usable cores divided among the
    processes of this machine (``LOCAL_WORLD_SIZE``).
    """
    _positive_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    if device is not None and device not in DEVICES:
        raise ValueError(f"device: expected None, 'cpu' or 'gpu', got {device!r}")
    if device == "gpu" and _cuda_devices() == 0:
        raise ValueError("device='gpu', but DALI finds no CUDA device: pass device='cpu' or None")
    if device is None:
        device = "gpu" if _cuda_devices() > 0 else "cpu"

    shards_name, id_name = "num_shards", "shard_id"
    if num_shards is None:
        num_shards, shards_name = _env_int("WORLD_SIZE") or 1, "num_shards (from WORLD_SIZE)"
    _positive_int(shards_name, num_shards)
    if shard_id is None:
        shard_id, id_name = _env_int("RANK") or 0, "shard_id (from RANK)"
    if isinstance(shard_id, bool) or not isinstance(shard_id, int) or not 0 <= shard_id < num_shards:
        raise ValueError(f"{id_name}: expected an integer in [0, num_shards={num_shards}), "
                         f"got {shard_id!r}")

    local_processes = _env_int("LOCAL_WORLD_SIZE") or 1
    if num_threads is None:
        num_threads = max(1, len(os.sched_getaffinity(0)) // local_processes)
    _positive_int("num_threads", num_threads)
    return Runtime(batch_size=batch_size, num_threads=num_threads, device=device,
                   device_id=(_env_int("LOCAL_RANK") or 0) if device == "gpu" else None,
                   seed=seed, shard_id=shard_id, num_shards=num_shards)


def check_shards(runtime: Runtime, num_samples: int) -> None:
    """Refuse more shards than samples: every shard needs at least one."""
    if runtime.num_shards > num_samples:
        raise ValueError(f"num_shards={runtime.num_shards} is more than the {num_samples} samples "
                         "of the data set: every shard needs at least one")
