"""The stage's native operators (``csrc/``): built on first use, cached, loaded into DALI.

Two libraries, each compiled against the installed DALI's headers:

- the CPU library (``libdali_mixup_ops.so``): every ``csrc/operators/*.cc``, the operators' CPU
  backends and all their schemas, compiled with the C++ compiler for this machine's CPU
  (``-march=native``: the pixel loops vectorize with its widest instructions). DALI's headers
  include CUDA's, which come from NVIDIA's packages of the CUDA major version of the installed
  DALI (``dali-mixup[cu12]`` or ``[cu13]``), else from a toolkit in ``$CUDA_HOME``.
- the GPU library (``libdali_mixup_gpu.so``): every ``csrc/operators/*.cu``, the GPU backends,
  compiled with ``nvcc`` (``$CUDA_HOME/bin``, then ``PATH``, then ``/usr/local/cuda/bin``) for
  ``default_archs()`` or the architectures asked for, plus the PTX of the highest, which newer
  GPUs compile when they load it. It is loaded after the CPU library, whose schemas it
  registers backends for.

Which toolkit builds a GPU library that works beside a DALI: the library links CUDA's runtime
statically with its symbols hidden (no ``libcudart`` needed, no ``cuda*`` function exported), so
it meets neither DALI's runtime (static too) nor PyTorch's, and its toolkit need not match
DALI's flavour. Seen: CUDA 13.0 and 13.5 build it against DALI 2.4.0's ``nvidia-dali-cuda120``
and ``nvidia-dali-cuda130`` headers, and it loads and registers its GPU backends beside either.
Expected, not tried: any CUDA 12 toolkit (12.0 is the first ``nvcc`` to take C++20, in which
DALI's headers are written) whose ``nvcc`` supports the host's ``g++``. At run time the
library's runtime needs a driver of its CUDA major version: a CUDA 13 build needs driver 580 or
newer, where DALI's CUDA 12 flavour runs from driver 525; CUDA 13 compiles for sm_75 and newer.

Each library is cached in ``$DALI_MIXUP_CACHE`` (default ``~/.cache/dali-mixup/ops``) under a
key made of every file under ``csrc/``, DALI's version, the compiler's version and the whole
command (and the CPU, or the GPU architectures); a file lock lets parallel processes
(``torchrun``) share one build, and ``build.log`` beside the library keeps the command and the
compiler's output (warnings). Where the CPU library cannot be built, the stage warns once and
composes DALI's own operators instead, which give the same results (up to float rounding) more
slowly; where only the GPU library cannot, the same holds for images on the GPU.
``DALI_MIXUP_FUSED=0`` asks for DALI's operators on purpose.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import hashlib
import importlib.util
import os
import platform
import re
import shlex
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import nvidia.dali as dali
from nvidia.dali import plugin_manager, sysconfig

CSRC = Path(__file__).resolve().parent / "csrc"
CPU_LIBRARY = "libdali_mixup_ops.so"
GPU_LIBRARY = "libdali_mixup_gpu.so"
# No fused multiply-adds: results then do not depend on which CPU the build was made for, and the
# host code in the .cu files computes exactly what the CPU library does. g++ 12 reports DALI's
# SmallVector as freeing a non-heap object once inlined: a false positive, not ours to fix.
_CXX_FLAGS = ["-std=c++20", "-O3", "-march=native", "-ffp-contract=off", "-fPIC", "-shared", "-Wall",
              "-Wno-free-nonheap-object"]
# C++20, as DALI's headers are written; relaxed constexpr lets device code call std:: constexpr
# functions (as in DALI's own build); --threads 0: the architectures compile in parallel.
_NVCC_FLAGS = ["-std=c++20", "-O3", "-shared", "-Xcompiler",
               "-fPIC,-Wall,-Wno-free-nonheap-object,-ffp-contract=off", "-cudart", "static",
               "--expt-relaxed-constexpr", "--threads", "0"]
DEFAULT_ARCHS = ("sm_80", "sm_90")
_NVCC_FALLBACK = Path("/usr/local/cuda/bin/nvcc")
_COMPILE_SECONDS = 600
# /proc/cpuinfo lines that say what -march=native targets (x86: model, flags; ARM: features, part).
_CPU_LINES = ("model name", "flags", "Features", "CPU implementer", "CPU architecture", "CPU variant",
              "CPU part")
# The CUDA headers DALI's headers need, by CUDA major version: header -> (module whose include/
# holds it, the package that ships it).
_CUDA_HEADERS = {
    12: {"cuda_runtime.h": ("nvidia.cuda_runtime", "nvidia-cuda-runtime-cu12"),
         "crt/host_config.h": ("nvidia.cuda_nvcc", "nvidia-cuda-nvcc-cu12"),
         "nv/target": ("nvidia.cuda_cccl", "nvidia-cuda-cccl-cu12")},
    13: {"cuda_runtime.h": ("nvidia.cu13", "nvidia-cuda-runtime"),
         "crt/host_config.h": ("nvidia.cu13", "nvidia-cuda-crt"),
         "nv/target": ("nvidia.cu13", "nvidia-cuda-cccl")},
}
_ARCH = re.compile(r"sm_(\d{2,3})")


class BuildError(RuntimeError):
    """A native library could not be compiled or loaded; the message says why."""


def cache_dir() -> Path:
    root = os.environ.get("DALI_MIXUP_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "dali-mixup" / "ops"


def parse_archs(archs: str | Iterable[str], *, name: str = "archs") -> tuple[str, ...]:
    """GPU architectures (``sm_XX`` names, or one string of them separated by commas) sorted,
    without repeats; a ValueError naming ``name`` for a bad one."""
    parsed = set()
    for arch in archs.split(",") if isinstance(archs, str) else archs:
        match = _ARCH.fullmatch(arch.strip())
        if match is None:
            raise ValueError(f"{name}: expected GPU architectures such as sm_80 or sm_90, got {arch!r}")
        parsed.add(int(match[1]))
    if not parsed:
        raise ValueError(f"{name}: expected at least one GPU architecture, such as sm_80")
    return tuple(f"sm_{number}" for number in sorted(parsed))


def default_archs() -> tuple[str, ...]:
    """``$DALI_MIXUP_CUDA_ARCHS`` (e.g. ``sm_80,sm_90``: a Docker image built without a GPU then
    finds at run time what it built), else the visible GPUs' own architectures (``nvidia-smi``),
    else ``DEFAULT_ARCHS``."""
    chosen = os.environ.get("DALI_MIXUP_CUDA_ARCHS")
    if chosen is not None:
        try:
            return parse_archs(chosen, name="DALI_MIXUP_CUDA_ARCHS")
        except ValueError as error:  # a failed build, as any other: warned about, not a crash
            raise BuildError(str(error)) from None
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return DEFAULT_ARCHS
    caps = [line.strip().replace(".", "") for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not caps or not all(cap.isdigit() for cap in caps):
        return DEFAULT_ARCHS
    return parse_archs(f"sm_{cap}" for cap in caps)


def _cuda_major() -> int:
    """The CUDA major version the installed DALI was built with (its flavour)."""
    return int(str(dali.__cuda_version__)[:2])


def _package_include(name: str) -> list[Path]:
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:  # its parent package is missing
        return []
    return [Path(p) / "include" for p in spec.submodule_search_locations] if spec else []


def _cuda_includes() -> list[Path]:
    """CUDA's headers, which DALI's headers include even for CPU operators: from NVIDIA's
    packages for the installed DALI's CUDA version (see ``_CUDA_HEADERS``), else from the
    toolkit in $CUDA_HOME."""
    major = _cuda_major()
    if major not in _CUDA_HEADERS:
        raise BuildError(f"the installed DALI is built for CUDA {major}: install DALI for CUDA 12 or 13 "
                         f"(dali-mixup[cu12] or [cu13])")
    toolkit = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "include"
    found = []
    for header, (module, package) in _CUDA_HEADERS[major].items():
        places = _package_include(module) + [toolkit]
        place = next((p for p in places if (p / header).is_file()), None)
        if place is None:
            raise BuildError(f"CUDA's header {header} was not found: install dali-mixup[cu{major}] "
                             f"(it brings {package}), or set CUDA_HOME to a CUDA {major} toolkit")
        if place not in found:
            found.append(place)
    return found


def _compiler() -> str:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return name
    raise BuildError("no C++ compiler found (tried $CXX, g++, c++, clang++)")


def _nvcc() -> str:
    home = os.environ.get("CUDA_HOME")
    places = [Path(home) / "bin" / "nvcc"] if home else []
    on_path = shutil.which("nvcc")
    places += [Path(on_path)] if on_path else []
    places.append(_NVCC_FALLBACK)
    found = next((str(p) for p in places if p.is_file() and os.access(p, os.X_OK)), None)
    if found is None:
        home_bin = f"({Path(home) / 'bin'})" if home else "(CUDA_HOME is not set)"
        raise BuildError(f"the CUDA compiler nvcc was not found (looked in $CUDA_HOME/bin {home_bin}, "
                         f"$PATH and {_NVCC_FALLBACK.parent}); set CUDA_HOME to a CUDA toolkit")
    return found


def _version(program: str) -> str:
    return subprocess.run([program, "--version"], capture_output=True, text=True).stdout


def _sources(suffix: str) -> list[Path]:
    sources = sorted((CSRC / "operators").glob(f"*{suffix}"))
    if not sources:
        raise BuildError(f"no sources to compile: {CSRC / 'operators'} has no *{suffix} file")
    return sources


def _digest() -> str:
    """Every file under csrc/, by relative path and content: headers count as much as sources."""
    digest = hashlib.sha256()
    for path in sorted(p for p in CSRC.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(CSRC)}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _cpu() -> str:
    """What ``-march=native`` compiles for: the CPU's model and instruction set extensions, so
    that a cache shared by different machines keeps one build per kind of CPU."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    return "\n".join(sorted({line for line in lines if line.startswith(_CPU_LINES)}))


def _gencode(archs: Sequence[str]) -> list[str]:
    """nvcc's targets: a cubin per architecture in ``archs`` (sorted), and the PTX of the last."""
    numbers = [arch.removeprefix("sm_") for arch in archs]
    return [*(f"-gencode=arch=compute_{n},code=sm_{n}" for n in numbers),
            f"-gencode=arch=compute_{numbers[-1]},code=compute_{numbers[-1]}"]


def _supported_archs(nvcc: str) -> set[str]:
    done = subprocess.run([nvcc, "--list-gpu-code"], capture_output=True, text=True)
    return set(done.stdout.split())


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _compile(command: list[str], what: str) -> str:
    """Runs a compile of the sources named ``what``; returns its output (warnings), or raises
    BuildError with the reason."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_COMPILE_SECONDS)
    except subprocess.TimeoutExpired:
        raise BuildError(f"compiling {what} took over {_COMPILE_SECONDS} s") from None
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise BuildError(f"compiling {what} failed:\n{output.strip()[-4000:]}")
    return output


def _cached(name: str, command: list[str], key: Sequence[str], sources: Sequence[Path]) -> Path:
    """The library ``name`` that ``command -o ...`` builds from ``sources``, from the cache
    under ``key`` and the command, or built now; ``build.log`` beside it keeps the command and
    the compiler's output."""
    what = ", ".join(source.name for source in sources)
    digest = hashlib.sha256("\0".join([*key, *command]).encode()).hexdigest()[:16]
    target = cache_dir() / digest / name
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
            partial = Path(tmp) / name
            try:
                output = _compile([*command, "-o", str(partial)], what)
            except BuildError as error:
                failed.write_text(str(error))
                raise
            log = f"{shlex.join([*command, '-o', str(target)])}\n{output}"
            (target.parent / "build.log").write_text(log)
            os.replace(partial, target)
    return target


def build() -> Path:
    """The CPU library, built now unless the cache holds it."""
    compiler = _compiler()
    sources = _sources(".cc")
    includes = [f"-I{path}" for path in [CSRC, *_cuda_includes()]]
    command = [compiler, *_CXX_FLAGS, *sysconfig.get_compile_flags(), *includes, *map(str, sources),
               *sysconfig.get_link_flags()]
    key = [_digest(), dali.__version__, _version(compiler), _cpu()]
    return _cached(CPU_LIBRARY, command, key, sources)


def build_gpu(archs: str | Iterable[str] | None = None) -> Path:
    """The GPU library for ``archs`` (as ``parse_archs`` takes them; default: ``default_archs()``),
    built now unless the cache holds it."""
    archs = default_archs() if archs is None else parse_archs(archs)
    nvcc = _nvcc()
    supported = _supported_archs(nvcc)  # empty where nvcc cannot list them: it then judges itself
    if supported and (missing := [arch for arch in archs if arch not in supported]):
        raise BuildError(f"{nvcc} does not compile for {', '.join(missing)} "
                         f"(it does for {', '.join(sorted(supported, key=lambda a: int(a[3:])))})")
    compiler = _compiler()
    sources = _sources(".cu")
    command = [nvcc, "-ccbin", compiler, *_NVCC_FLAGS, *_gencode(archs), *sysconfig.get_compile_flags(),
               f"-I{CSRC}", *map(str, sources), *sysconfig.get_link_flags()]
    # nvcc adds these variables' flags to every command it runs.
    key = [_digest(), dali.__version__, _version(nvcc), _version(compiler), ",".join(archs),
           os.environ.get("NVCC_PREPEND_FLAGS", ""), os.environ.get("NVCC_APPEND_FLAGS", "")]
    return _cached(GPU_LIBRARY, command, key, sources)


@contextlib.contextmanager
def dalis_operators() -> Iterator[None]:
    """Pipelines defined inside use DALI's own operators instead of the stage's native ones
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


def available(device: str = "cpu") -> bool:
    """Whether the stage's operators can be used on ``device`` ("cpu" or "gpu"): the CPU library
    (and for "gpu" the GPU library too) built if needed and loaded into DALI, each once per
    process; the first failure of each is warned about."""
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device: expected 'cpu' or 'gpu', got {device!r}")
    if os.environ.get("DALI_MIXUP_FUSED", "1") == "0":
        return False
    return _load_cpu() and (device == "cpu" or _load_gpu())


def _loaded(device: str, load: Callable[[], object]) -> bool:
    """Whether ``load`` (building and loading ``device``'s library) succeeded; the first
    failure is warned about, naming why and what the stage does instead."""
    try:
        load()
    except (BuildError, OSError, RuntimeError) as error:
        where = device.upper()
        warnings.warn(f"dali_mixup: the {where} operators are unavailable ({error}); the stage on the "
                      f"{where} composes DALI's operators instead, with the same results, more slowly",
                      RuntimeWarning, stacklevel=5)
        return False
    return True


@functools.cache
def _load_cpu() -> bool:
    # Global symbols: the GPU library's registrations link to the schemas defined here.
    return _loaded("cpu", lambda: plugin_manager.load_library(str(build()), global_symbols=True))


def _driver_cuda() -> int | None:
    """The CUDA version the NVIDIA driver supports (e.g. 12040 for 12.4); None without one."""
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    version = ctypes.c_int()
    return version.value if libcuda.cuDriverGetVersion(ctypes.byref(version)) == 0 else None


def _check_driver() -> None:
    """A BuildError where a driver is present but older than the CUDA runtime that nvcc links
    into the GPU library: the library would load, and its first kernel launch fail."""
    driver = _driver_cuda()
    release = re.search(r"release (\d+)\.", _version(_nvcc()))
    if driver is None or release is None or driver // 1000 >= int(release[1]):
        return
    raise BuildError(f"the NVIDIA driver supports CUDA {driver // 1000}.{driver % 1000 // 10}, older than "
                     f"CUDA {release[1]}, whose runtime {_nvcc()} links into the GPU library: update the "
                     f"driver, or point CUDA_HOME at a CUDA {driver // 1000} toolkit")


@functools.cache
def _load_gpu() -> bool:
    def load() -> None:
        library = build_gpu()
        _check_driver()
        plugin_manager.load_library(str(library))

    return _loaded("gpu", load)
