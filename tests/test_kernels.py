"""The native kernels without a pipeline: the GPU kernel's per-pixel body (``MixPixel`` in
``csrc/kernels/blend.h``), run on the host over every pixel as the kernel's threads do, against
the CPU loops (``csrc/kernels/mix_cpu.h``), bit for bit. This checks the GPU pass's indexing,
box test, layouts and stores on machines without a GPU."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from nvidia.dali import sysconfig

from dali_mixup import native

CHECK = Path(__file__).resolve().parent / "native" / "pixel_check.cc"


@pytest.fixture(scope="module")
def pixel_check(tmp_path_factory) -> Path:
    try:
        compiler = native._compiler()
        includes = [f"-I{p}" for p in [native.CSRC, *native._cuda_includes()]]
    except native.BuildError as error:
        pytest.skip(f"cannot compile the kernel check here: {error}")
    binary = tmp_path_factory.mktemp("kernels") / "pixel_check"
    # The CPU library's code generation flags, so that the loops are the vectorized ones.
    done = subprocess.run([compiler, "-std=c++20", "-O3", "-march=native", "-ffp-contract=off", "-Wall",
                           "-Wno-free-nonheap-object", *sysconfig.get_compile_flags(), *includes, str(CHECK),
                           "-o", str(binary)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return binary


def test_gpu_pixel_body_writes_what_the_cpu_loops_write(pixel_check):
    done = subprocess.run([str(pixel_check)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout
    # 7 sizes x 3 channel counts x 4 layout pairs x 8 samples x 2 normalizations x 3 input
    # types, with 3 output types without normalization and 2 with it.
    assert done.stdout.strip() == f"{7 * 3 * 4 * 8 * 3 * (3 + 2)} cases equal"


RESAMPLE_CHECK = CHECK.with_name("resample_check.cc")
# Builds of the resampler check: the instruction sets of its horizontal pass, none (plain C++),
# SSSE3, AVX2, and the machine's own (what the CPU library is built for), this last one also
# under AddressSanitizer and UBSan; each run where this CPU has what it needs.
BUILDS = {
    "x86-64": ({"sse2"}, ["-march=x86-64"]),
    "x86-64-v2": ({"ssse3"}, ["-march=x86-64-v2"]),
    "x86-64-v3": ({"avx2"}, ["-march=x86-64-v3"]),
    "native": (set(), ["-march=native"]),
    "native, sanitized": (set(), ["-march=native", "-g", "-fsanitize=address,undefined",
                                  "-fno-sanitize-recover=all"]),
}


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":")[1].split()}


def _same_bytes_on_every_instruction_set(tmp_path: Path, source: Path) -> None:
    """Build the check ``source`` for each of BUILDS this CPU can run (in parallel), run each:
    all must succeed and print the same text (a hash of what the kernels wrote)."""
    try:
        compiler = native._compiler()
    except native.BuildError as error:
        pytest.skip(f"cannot compile {source.name} here: {error}")
    flags = _cpu_flags()
    if "sse2" not in flags:
        pytest.skip("not an x86-64 CPU (or no /proc/cpuinfo): the SIMD builds cannot run here")
    binaries = {name: tmp_path / f"{source.stem}-{name.replace(', ', '-')}" for name, (needs, _) in BUILDS.items()
                if needs <= flags}
    compiles = {name: subprocess.Popen([compiler, "-std=c++20", "-O3", *BUILDS[name][1], "-ffp-contract=off", "-Wall",
                                        f"-I{native.CSRC}", str(source), "-o", str(binary)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name, binary in binaries.items()}
    outputs = {}
    for name, compile_ in compiles.items():
        _, errors = compile_.communicate(timeout=300)
        assert compile_.returncode == 0, f"{name}: {errors[-4000:]}"
        run = subprocess.run([str(binaries[name])], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{name}: {run.stdout[-4000:]}{run.stderr[-4000:]}"
        outputs[name] = run.stdout.strip()
    assert {"x86-64", "native", "native, sanitized"} <= set(outputs), list(outputs)
    assert len(set(outputs.values())) == 1, outputs


def test_resampler_writes_the_same_bytes_on_every_instruction_set(tmp_path):
    _same_bytes_on_every_instruction_set(tmp_path, RESAMPLE_CHECK)


def test_augment_kernels_write_the_same_bytes_on_every_instruction_set(tmp_path):
    """The augment ops' SIMD paths (AVX-512 VBMI LUTs, AVX2 / AVX-512 affine lanes, AVX2
    sharpness) against plain C++, with ASan and UBSan on the machine's own build."""
    _same_bytes_on_every_instruction_set(tmp_path, CHECK.with_name("augment_check.cc"))


ERASE_CHECK = CHECK.with_name("erase_check.cc")


def _erase_check(tmp_path: Path, options: list[str]) -> Path:
    try:
        compiler = native._compiler()
    except native.BuildError as error:
        pytest.skip(f"cannot compile the erase check here: {error}")
    binary = tmp_path / ("erase_check" + "".join(options).replace("=", "-").replace(",", "-"))
    done = subprocess.run([compiler, "-std=c++20", "-O3", *options, "-ffp-contract=off", "-Wall",
                           f"-I{native.CSRC}", str(ERASE_CHECK), "-o", str(binary)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return binary


def _erase_output(binary: Path, mode: str) -> np.ndarray:
    run = subprocess.run([str(binary), mode], capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    return np.frombuffer(run.stdout, np.float32)


def test_erase_noise_is_the_same_bytes_on_every_instruction_set(tmp_path):
    """Each build also compares its rows (vectorized where it can) with the per-group function."""
    _same_bytes_on_every_instruction_set(tmp_path, ERASE_CHECK)


def test_erase_log_cos_sin_match_numpy(tmp_path):
    u, log, cos, sin = _erase_output(_erase_check(tmp_path, ["-march=native"]), "math").reshape(-1, 4).T
    assert len(u) > 2_000_000
    exact = u.astype(np.float64)
    # Within one unit in the last place of float32 for the log, 3e-7 for cos and sin.
    assert (np.abs(log - np.log(exact)) <= np.spacing(np.abs(np.log(exact)).astype(np.float32))).all()
    assert np.abs(cos - np.cos(2 * np.pi * exact)).max() < 3e-7
    assert np.abs(sin - np.sin(2 * np.pi * exact)).max() < 3e-7


def test_erase_noise_is_standard_normal(tmp_path):
    values = _erase_output(_erase_check(tmp_path, ["-march=native"]), "normals").astype(np.float64)
    n = len(values)
    assert n == 1_000_000
    assert stats.kstest(values, "norm").pvalue > 1e-3
    # Mean and variance within 4 standard errors; neighbours (in a row and across groups) uncorrelated.
    assert abs(values.mean()) < 4 / math.sqrt(n)
    assert abs(values.var() - 1) < 4 * math.sqrt(2 / n)
    assert abs(np.corrcoef(values[:-1], values[1:])[0, 1]) < 4 / math.sqrt(n)
