"""The stage's CPU operator (``csrc/mix_op.cc``): built on first use, cached, loaded into DALI.

The operator is compiled against the installed DALI's headers (and the CUDA headers they
include, from NVIDIA's ``nvidia-cuda-*-cu12`` packages), once per source, DALI version and compiler,
for this machine's CPU (``-march=native``: the pixel loops vectorize with its widest
instructions), into ``$DALI_MIXUP_CACHE`` (default ``~/.cache/dali-mixup/ops``); a file lock lets parallel
processes (``torchrun``) share one build. Where it cannot be built (no C++ compiler), the
stage warns once and composes DALI's own operators instead, which give the same results (up
to float rounding) more slowly. ``DALI_MIXUP_FUSED=0`` asks for that path on purpose.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import nvidia.dali as dali
from nvidia.dali import plugin_manager, sysconfig

SOURCE = Path(__file__).resolve().parent / "csrc" / "operators" / "mix_op.cc"
# No fused multiply-adds: results then do not depend on which CPU the build was made for.
_FLAGS = ["-std=c++20", "-O3", "-march=native", "-ffp-contract=off", "-fPIC", "-shared", "-w"]
_COMPILE_SECONDS = 600
# /proc/cpuinfo lines that say what -march=native targets (x86: model, flags; ARM: features, part).
_CPU_LINES = ("model name", "flags", "Features", "CPU implementer", "CPU architecture", "CPU variant",
              "CPU part")
# A header DALI's headers need, by the package (nvidia-<name>-cu12) that ships it.
_CUDA_HEADERS = {"cuda_runtime.h": "cuda_runtime", "crt/host_config.h": "cuda_nvcc", "nv/target": "cuda_cccl"}


class BuildError(RuntimeError):
    """The CPU operator could not be compiled or loaded; the message says why."""


def cache_dir() -> Path:
    root = os.environ.get("DALI_MIXUP_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "dali-mixup" / "ops"


def _package_include(name: str) -> list[Path]:
    spec = importlib.util.find_spec(name)
    return [Path(p) / "include" for p in spec.submodule_search_locations] if spec else []


def _cuda_includes() -> list[Path]:
    """CUDA's headers, which DALI's headers include even for CPU operators: from NVIDIA's
    packages (see ``_CUDA_HEADERS``), else from the toolkit in $CUDA_HOME."""
    toolkit = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "include"
    found = []
    for header, package in _CUDA_HEADERS.items():
        places = _package_include(f"nvidia.{package}") + [toolkit]
        place = next((p for p in places if (p / header).is_file()), None)
        if place is None:
            raise BuildError(f"CUDA's header {header} was not found: install nvidia-{package.replace('_', '-')}"
                             "-cu12, or set CUDA_HOME to a CUDA toolkit")
        found.append(place)
    return found


def _compiler() -> str:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return name
    raise BuildError("no C++ compiler found (tried $CXX, g++, c++, clang++)")


def _command(compiler: str) -> list[str]:
    """The compile command, less ``-o OUTPUT``."""
    includes = [f"-I{path}" for path in _cuda_includes()]
    return [compiler, *_FLAGS, *sysconfig.get_compile_flags(), *includes, str(SOURCE),
            *sysconfig.get_link_flags()]


def _cpu() -> str:
    """What ``-march=native`` compiles for: the CPU's model and instruction set extensions, so
    that a cache shared by different machines keeps one build per kind of CPU."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    return "\n".join(sorted({line for line in lines if line.startswith(_CPU_LINES)}))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def build() -> Path:
    """The compiled operator library, built now unless the cache holds it."""
    compiler = _compiler()
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    command = _command(compiler)
    key = hashlib.sha256("\0".join([SOURCE.read_text(), dali.__version__, version, _cpu(),
                                    *command]).encode()).hexdigest()[:16]
    target = cache_dir() / key / "libdali_mixup_ops.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    failed = target.parent / "failed.txt"
    before = _stamp(failed)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build; the others wait and then find it
        if target.is_file():
            return target
        # A build that failed while this process waited (the marker changed meanwhile) fails
        # it too, rather than each waiting process compiling again in turn; a later start
        # tries afresh. Compared by the file's own stamp: no clocks of other machines.
        if failed.is_file() and _stamp(failed) != before:
            raise BuildError(failed.read_text())
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            partial = Path(tmp) / target.name
            try:
                done = subprocess.run([*command, "-o", str(partial)], capture_output=True,
                                      text=True, timeout=_COMPILE_SECONDS)
                reason = None if done.returncode == 0 else f"compiling {SOURCE.name} failed:\n{done.stderr[-4000:]}"
            except subprocess.TimeoutExpired:
                reason = f"compiling {SOURCE.name} took over {_COMPILE_SECONDS} s"
            if reason is not None:
                failed.write_text(reason)
                raise BuildError(reason)
            os.replace(partial, target)
    return target


@contextlib.contextmanager
def dalis_operators() -> Iterator[None]:
    """Pipelines defined inside use DALI's own operators instead of the stage's CPU operator
    (``DALI_MIXUP_FUSED=0``, restored after)."""
    before = os.environ.get("DALI_MIXUP_FUSED")
    os.environ["DALI_MIXUP_FUSED"] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["DALI_MIXUP_FUSED"]
        else:
            os.environ["DALI_MIXUP_FUSED"] = before


def available() -> bool:
    """Whether ``fn.dali_mixup_mix`` can be used: built (if needed) and loaded into DALI once
    per process; the first failure is warned about."""
    return os.environ.get("DALI_MIXUP_FUSED", "1") != "0" and _load()


@functools.cache
def _load() -> bool:
    try:
        plugin_manager.load_library(str(build()))
    except (BuildError, OSError, RuntimeError) as error:
        warnings.warn(f"dali_mixup: the one-pass CPU operator is unavailable ({error}); mixing on "
                      f"the CPU composes DALI's operators instead, with the same results, more "
                      f"slowly", RuntimeWarning, stacklevel=4)
        return False
    return True
