"""Building and loading the stage's native operators: the CPU and GPU libraries, their cache,
parallel builds, the fallback to DALI's operators, and ``dali-mixup build``."""

from __future__ import annotations

import fcntl
import importlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import nvidia
import pytest
from nvidia.dali import sysconfig

from dali_mixup import native


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=300)


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dali_mixup", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def _names(suffix: str) -> str:
    """How build messages name the real sources of one library."""
    return ", ".join(p.name for p in sorted((native.CSRC / "operators").glob(f"*{suffix}")))


def _fake_compiler(path: Path, *, fails: bool, says: str = "no such header") -> Path:
    """A stand-in for g++ that logs each compile (``compile ARGS``) to ``<path>.log``, writes
    ``says`` to stderr when it fails, then fails or writes the output."""
    path.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ "$1" = --version ] && echo 'fake 1.0' && exit 0
        echo "compile $*" >> {path}.log
        {f"echo '{says}' >&2; exit 1" if fails else 'while [ "$1" != -o ]; do shift; done; touch "$2"'}
        """))
    path.chmod(0o755)
    return path


def _fake_nvcc(cuda_home: Path, *, fails: bool) -> Path:
    """A stand-in CUDA toolkit (``cuda_home/bin/nvcc``) that knows sm_75 to sm_90, logs each
    compile's arguments to ``nvcc.log`` beside it, then fails with an error or writes the output."""
    nvcc = cuda_home / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True, exist_ok=True)
    compile_ = ("echo 'op.cu(3): error: identifier \"x\" is undefined' >&2; exit 2" if fails else
                'while [ "$1" != -o ]; do shift; done; touch "$2"')
    nvcc.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ "$1" = --version ] && echo 'Cuda compilation tools, release 99.0, fake' && exit 0
        [ "$1" = --list-gpu-code ] && echo 'sm_75 sm_80 sm_86 sm_90' && exit 0
        echo "$*" >> {nvcc}.log
        """) + compile_ + "\n")
    nvcc.chmod(0o755)
    return nvcc


@pytest.fixture
def fakes(tmp_path, monkeypatch) -> dict[str, str]:
    """Fake g++ and nvcc that succeed, and an empty cache, here and for subprocesses (the env)."""
    env = {"CXX": str(_fake_compiler(tmp_path / "c++", fails=False)), "CUDA_HOME": str(tmp_path / "cuda"),
           "DALI_MIXUP_CACHE": str(tmp_path / "cache")}
    _fake_nvcc(tmp_path / "cuda", fails=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    """A csrc/ of its own (a CPU source, a GPU source, two headers) in place of the package's."""
    root = tmp_path / "csrc"
    for name, text in {"operators/op.cc": "int f();\n", "operators/op.cu": "__global__ void k() {}\n",
                       "kernels/blend.h": "// v1\n", "common/checks.h": "// checks\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    monkeypatch.setattr(native, "CSRC", root)
    return root


@pytest.fixture(scope="module")
def gpu_library() -> Path:
    """The GPU library of the package's CUDA sources for the default architectures, built (once
    per run, a minute or two) into the cache that the stage loads from, so that the rest of the
    suite finds it there. A failure to compile fails the tests that use it; without nvcc they skip."""
    try:
        native._nvcc()
    except native.BuildError as error:
        pytest.skip(f"the CUDA sources are not compiled on this machine: {error}")
    return native.build_gpu()


def test_parallel_processes_share_one_cached_build(tmp_path, monkeypatch):
    """As under torchrun: processes that start together build once and load the same file."""
    code = "from dali_mixup import native; print(native.build())"
    env = {**os.environ, "DALI_MIXUP_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    paths = [Path(p.communicate(timeout=300)[0].strip()) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert paths[0] == paths[1] and paths[0].parent.parent == tmp_path and paths[0].is_file()
    assert list(tmp_path.glob("*/*.so")) == [paths[0]], "one library, no leftovers of a second build"
    built = paths[0].stat().st_mtime_ns
    monkeypatch.setenv("DALI_MIXUP_CACHE", str(tmp_path))
    assert native.build() == paths[0] and paths[0].stat().st_mtime_ns == built  # from the cache


def test_with_a_compiler_the_stage_uses_its_cpu_operators_built_without_warnings():
    """Else the "cpu" tests would quietly test DALI's operators twice. Built with -Wall: the
    compiler's output, kept in build.log after the command, is empty."""
    if not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        pytest.skip("no C++ compiler on this machine")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert native.available() is True
    command, output = (native.build().parent / "build.log").read_text().split("\n", 1)
    assert "-Wall" in command.split() and output == ""


def test_the_cuda_sources_compile_and_load_after_the_cpu_library(gpu_library):
    """Every GPU backend that the .cu sources register is there once the libraries are loaded,
    in a fresh process, the CPU one first; nvcc warned about nothing."""
    sources = "".join(p.read_text() for p in sorted((native.CSRC / "operators").glob("*.cu")))
    ours = set(re.findall(r"DALI_REGISTER_OPERATOR\(\s*(\w+)\s*,[^;]*\bGPU\s*\)", sources))
    assert ours, "the .cu sources register GPU backends"
    done = _python("""
        import warnings
        from nvidia.dali import backend
        from dali_mixup import native
        warnings.simplefilter("error")
        before = set(backend.RegisteredGPUOps())
        print(native.available("gpu"), " ".join(sorted(set(backend.RegisteredGPUOps()) - before)))
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", *sorted(ours)]
    assert gpu_library.name == "libdali_mixup_gpu.so"
    command, output = (gpu_library.parent / "build.log").read_text().split("\n", 1)
    assert output == "" and command.endswith(f"-o {gpu_library}")


def test_a_failed_compile_reports_the_compilers_output(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", str(_fake_compiler(tmp_path / "c++", fails=True)))
    monkeypatch.setenv("DALI_MIXUP_CACHE", str(tmp_path / "cache"))
    with pytest.raises(native.BuildError) as error:
        native.build()
    assert str(error.value) == f"compiling {_names('.cc')} failed:\nno such header"
    assert not list((tmp_path / "cache").glob("*/*.so"))


def test_the_compile_commands(tree, fakes, tmp_path):
    """g++ with warnings and without fused multiply-adds; nvcc with a static CUDA runtime, a cubin
    per architecture (sorted, once each) and the PTX of the highest; both with DALI's flags."""
    cpu, gpu = native.build(), native.build_gpu(["sm_90", "sm_80", "sm_90"])
    dali_flags, link = " ".join(sysconfig.get_compile_flags()), " ".join(sysconfig.get_link_flags())
    includes = " ".join(f"-I{p}" for p in native._cuda_includes())
    (cpu_line,) = (tmp_path / "c++.log").read_text().splitlines()
    assert cpu_line.rsplit(" -o ", 1)[0] == (
        f"compile -std=c++20 -O3 -march=native -ffp-contract=off -fPIC -shared -Wall "
        f"-Wno-free-nonheap-object {dali_flags} -I{tree} {includes} {tree}/operators/op.cc {link}")
    assert cpu_line.endswith(f"/{cpu.name}") and cpu.name == "libdali_mixup_ops.so"
    (gpu_line,) = (tmp_path / "cuda" / "bin" / "nvcc.log").read_text().splitlines()
    assert gpu_line.rsplit(" -o ", 1)[0] == (
        f"-ccbin {fakes['CXX']} -std=c++20 -O3 -shared -Xcompiler -fPIC,-Wall,-Wno-free-nonheap-object,"
        f"-ffp-contract=off -cudart static --expt-relaxed-constexpr --threads 0 "
        f"-gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=sm_90 "
        f"-gencode=arch=compute_90,code=compute_90 {dali_flags} -I{tree} {tree}/operators/op.cu {link}")
    assert gpu_line.endswith(f"/{gpu.name}") and gpu.name == "libdali_mixup_gpu.so"
    log = (gpu.parent / "build.log").read_text()
    assert log.startswith(f"{tmp_path}/cuda/bin/nvcc -ccbin {fakes['CXX']} ")


def test_the_cache_key_covers_every_file_under_csrc_and_the_architectures(tree, fakes, tmp_path):
    def keys() -> tuple[str, str]:
        return native.build().parent.name, native.build_gpu(["sm_80"]).parent.name

    first = keys()
    (tree / "kernels" / "blend.h").write_text("// v2\n")
    second = keys()
    (tree / "kernels" / "blend.h").write_text("// v1\n")
    assert keys() == first  # from the cache: nothing compiled again
    (tree / "common" / "checks.h").rename(tree / "common" / "checks_renamed.h")  # same content
    third = keys()
    (tree / "kernels" / "tiles.cuh").write_text("// new\n")
    fourth = keys()
    cpu_keys, gpu_keys = zip(first, second, third, fourth, strict=True)
    assert len(set(cpu_keys)) == len(set(gpu_keys)) == 4 and not set(cpu_keys) & set(gpu_keys)
    assert len((tmp_path / "c++.log").read_text().splitlines()) == 4
    assert len((tmp_path / "cuda" / "bin" / "nvcc.log").read_text().splitlines()) == 4
    by_archs = {archs: native.build_gpu(archs).parent.name
                for archs in [("sm_80",), ("sm_90",), ("sm_80", "sm_90"), ("sm_90", "sm_80", "sm_80")]}
    assert by_archs[("sm_80",)] == fourth[1] and len(set(by_archs.values())) == 3
    assert by_archs[("sm_80", "sm_90")] == by_archs[("sm_90", "sm_80", "sm_80")]


def test_a_failed_gpu_build_reports_nvccs_output_and_leaves_the_cpu_operators_working(tmp_path, monkeypatch):
    """One warning, for the GPU only; the CPU library (from its cache here) loads and works."""
    cpu = native.build()
    cache = tmp_path / "cache"
    shutil.copytree(cpu.parent, cache / cpu.parent.name)
    _fake_nvcc(tmp_path / "cuda", fails=True)
    env = {"CUDA_HOME": str(tmp_path / "cuda"), "DALI_MIXUP_CACHE": str(cache)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reason = f"compiling {_names('.cu')} failed:\nop.cu(3): error: identifier \"x\" is undefined"
    with pytest.raises(native.BuildError) as error:
        native.build_gpu(["sm_80"])
    assert str(error.value) == reason
    done = _python("""
        import warnings
        import numpy as np
        from nvidia.dali import fn, pipeline_def
        from dali_mixup import native

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print(native.available("cpu"), native.available("gpu"), native.available("gpu"),
                  native.available("cpu"))

        @pipeline_def(batch_size=2, num_threads=1, device_id=None)
        def pipe():
            x = fn.external_source(source=lambda: [np.full((2, 2, 3), 51, np.uint8)] * 2, batch=True,
                                   layout="HWC")
            return fn.dali_mixup_normalize(x, mean=[0.0, 0.0, 0.0], std=[51.0, 51.0, 51.0])

        p = pipe()
        p.build()
        print(np.array(p.run()[0].as_tensor()).ravel().tolist())
        print(len(caught), caught[0].category.__name__)
        print(caught[0].message)
        """, **env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n", 3)
    assert lines[:3] == ["True False False True", str([1.0] * 24), "1 RuntimeWarning"]
    assert lines[3] == (f"dali_mixup: the GPU operators are unavailable ({reason}); the stage on the GPU "
                        f"composes DALI's operators instead, with the same results, more slowly\n")


def test_without_nvcc_the_gpu_build_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(native, "_NVCC_FALLBACK", tmp_path / "cuda" / "bin" / "nvcc")
    monkeypatch.delenv("CUDA_HOME", raising=False)
    with pytest.raises(native.BuildError) as error:
        native.build_gpu()
    assert str(error.value) == (f"the CUDA compiler nvcc was not found (looked in $CUDA_HOME/bin "
                                f"(CUDA_HOME is not set), $PATH and {tmp_path}/cuda/bin); set CUDA_HOME "
                                f"to a CUDA toolkit")
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "toolkit"))
    looked = f"(looked in $CUDA_HOME/bin ({tmp_path}/toolkit/bin), $PATH"
    with pytest.raises(native.BuildError, match=re.escape(looked)):
        native.build_gpu()


def test_an_architecture_nvcc_does_not_know_is_refused_before_compiling(fakes, tmp_path):
    with pytest.raises(native.BuildError) as error:
        native.build_gpu(["sm_70", "sm_80", "sm_100"])
    assert str(error.value) == (f"{tmp_path}/cuda/bin/nvcc does not compile for sm_70, sm_100 "
                                f"(it does for sm_75, sm_80, sm_86, sm_90)")
    assert not (tmp_path / "cuda" / "bin" / "nvcc.log").exists()


@pytest.mark.parametrize(("archs", "message"), [
    (["sm80"], "archs: expected GPU architectures such as sm_80 or sm_90, got 'sm80'"),
    (["sm_80", "compute_90"], "archs: expected GPU architectures such as sm_80 or sm_90, got 'compute_90'"),
    ([""], "archs: expected GPU architectures such as sm_80 or sm_90, got ''"),
    ([], "archs: expected at least one GPU architecture, such as sm_80"),
])
def test_bad_architectures_are_named(archs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        native.build_gpu(archs)


def test_architectures_are_sorted_once_each():
    assert native.parse_archs(["sm_90", " sm_80", "sm_120", "sm_90"]) == ("sm_80", "sm_90", "sm_120")


@pytest.mark.parametrize(("chosen", "smi", "archs"), [
    (None, "echo 9.0; echo 8.6; echo 9.0", ("sm_86", "sm_90")),  # each visible GPU's own
    (None, "echo 'NVIDIA-SMI has failed' >&2; exit 9", ("sm_80", "sm_90")),  # a driver that does not answer
    (None, None, ("sm_80", "sm_90")),  # no nvidia-smi
    ("sm_90,sm_75", "echo 8.6", ("sm_75", "sm_90")),  # chosen ahead, as in a Docker image
])
def test_default_architectures(chosen, smi, archs, tmp_path, monkeypatch):
    if smi is not None:
        (tmp_path / "nvidia-smi").write_text(f"#!/bin/sh\n{smi}\n")
        (tmp_path / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    if chosen is None:
        monkeypatch.delenv("DALI_MIXUP_CUDA_ARCHS", raising=False)
    else:
        monkeypatch.setenv("DALI_MIXUP_CUDA_ARCHS", chosen)
    assert native.default_archs() == archs


def test_a_bad_architecture_in_the_environment_is_named(monkeypatch):
    """A failed GPU build like any other: warned about by the stage, not a crash."""
    monkeypatch.setenv("DALI_MIXUP_CUDA_ARCHS", "sm_80;sm_90")
    message = "DALI_MIXUP_CUDA_ARCHS: expected GPU architectures such as sm_80 or sm_90, got 'sm_80;sm_90'"
    with pytest.raises(native.BuildError, match=f"^{re.escape(message)}$"):
        native.build_gpu()


@pytest.mark.parametrize(("driver", "release", "refused"),
                         [(12040, "13.0", True), (13000, "13.0", False), (13020, "12.9", False),
                          (None, "13.0", False)])
def test_a_driver_older_than_the_linked_cuda_runtime_refuses_the_gpu_library(driver, release, refused,
                                                                               monkeypatch):
    """The runtime is linked statically: loading would succeed and the first launch fail."""
    monkeypatch.setattr(native, "_driver_cuda", lambda: driver)
    monkeypatch.setattr(native, "_nvcc", lambda: "/opt/cuda/bin/nvcc")
    monkeypatch.setattr(native, "_version", lambda program: f"Cuda compilation tools, release {release}, V{release}.1\n")
    if not refused:
        native._check_driver()
        return
    message = ("the NVIDIA driver supports CUDA 12.4, older than CUDA 13, whose runtime /opt/cuda/bin/nvcc "
               "links into the GPU library: update the driver, or point CUDA_HOME at a CUDA 12 toolkit")
    with pytest.raises(native.BuildError, match=f"^{re.escape(message)}$"):
        native._check_driver()


def test_cuda_headers_come_from_the_packages_of_the_installed_dalis_cuda_version(tmp_path, monkeypatch):
    site = Path(nvidia.__path__[0])
    major = native._cuda_major()
    expected = {12: [site / "cuda_runtime/include", site / "cuda_nvcc/include", site / "cuda_cccl/include"],
                13: [site / "cu13/include"]}[major]
    assert native._cuda_includes() == expected
    # The other flavour: its packages put every header in nvidia/cu13/include.
    other = 13 if major == 12 else 12
    monkeypatch.setattr(native, "_cuda_major", lambda: other)
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "no-toolkit"))
    monkeypatch.setattr(nvidia, "__path__", [str(tmp_path / "nvidia")])
    with pytest.raises(native.BuildError) as error:
        native._cuda_includes()
    importlib.invalidate_caches()  # the finders remember that the folders below were missing
    package = {12: "nvidia-cuda-runtime-cu12", 13: "nvidia-cuda-runtime"}[other]
    assert str(error.value) == (f"CUDA's header cuda_runtime.h was not found: install dali-mixup[cu{other}] "
                                f"(it brings {package}), or set CUDA_HOME to a CUDA {other} toolkit")
    packages = {12: ["cuda_runtime", "cuda_nvcc", "cuda_cccl"], 13: ["cu13"] * 3}[other]
    for package, header in zip(packages, ["cuda_runtime.h", "crt/host_config.h", "nv/target"], strict=True):
        (tmp_path / "nvidia" / package / "include" / header).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "nvidia" / package / "include" / header).write_text("")
    places = dict.fromkeys(tmp_path / "nvidia" / package / "include" for package in packages)
    assert native._cuda_includes() == list(places)


def test_without_a_compiler_the_stage_warns_once_and_composes_dalis_operators(tmp_path):
    """Same results, more slowly: the run still mixes, and says why it took the slow path."""
    done = _python("""
        import warnings
        import numpy as np
        from nvidia.dali import fn, pipeline_def
        from dali_mixup import MixConfig, mix

        images = [np.full((4, 4, 3), i, np.uint8) for i in range(4)]
        labels = [np.array([i], np.int32) for i in range(4)]

        @pipeline_def(batch_size=4, num_threads=1, device_id=None, seed=1)
        def pipe():
            x = fn.external_source(source=lambda: images, batch=True, layout="HWC")
            y = fn.external_source(source=lambda: labels, batch=True)
            out, targets = mix(x, y, MixConfig(num_classes=4, label_smoothing=0.0))
            out2, _ = mix(x, y, MixConfig(num_classes=4))
            return targets

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            p = pipe()
        p.build()
        targets = np.array(p.run()[0].as_tensor())
        assert np.allclose(targets.sum(1), 1) and (np.count_nonzero(targets, axis=1) == 2).all()
        print(len(caught), caught[0].category.__name__, caught[0].message)
        """, PATH=str(tmp_path), CXX="", DALI_MIXUP_CACHE=str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("1 RuntimeWarning dali_mixup: the CPU operators are unavailable (no C++ compiler "
                           "found (tried $CXX, g++, c++, clang++)); the stage on the CPU composes DALI's "
                           "operators instead, with the same results, more slowly\n")


def test_fused_zero_selects_dalis_operators_without_a_warning(monkeypatch):
    monkeypatch.setenv("DALI_MIXUP_FUSED", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert native.available("cpu") is False and native.available("gpu") is False
    with pytest.raises(ValueError, match="^device: expected 'cpu' or 'gpu', got 'mixed'$"):
        native.available("mixed")


def _wait_until_blocked_on_a_lock(pid: int) -> None:
    """Until /proc/locks lists process ``pid`` as waiting for a lock (a line with "->")."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any("->" in line and f" {pid} " in line for line in Path("/proc/locks").read_text().splitlines()):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never waited for the lock")


def test_a_build_that_fails_while_others_wait_fails_them_without_compiling_again(tmp_path, monkeypatch):
    """Ranks queued on the lock take the failure they waited for; a later start retries."""
    compiler = _fake_compiler(tmp_path / "c++", fails=True)
    env = {"CXX": str(compiler), "DALI_MIXUP_CACHE": str(tmp_path / "cache")}
    monkeypatch.setenv("CXX", env["CXX"])
    monkeypatch.setenv("DALI_MIXUP_CACHE", env["DALI_MIXUP_CACHE"])
    with pytest.raises(native.BuildError):
        native.build()
    (key_dir,) = (tmp_path / "cache").iterdir()
    with open(key_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a build in progress
        waiter = subprocess.Popen([sys.executable, "-c", "from dali_mixup import native; native.build()"],
                                  stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
        _wait_until_blocked_on_a_lock(waiter.pid)
        (key_dir / "failed.txt").unlink()
        (key_dir / "failed.txt").write_text("compiling mix_op.cc failed:\nthe first rank's reason")
    _, err = waiter.communicate(timeout=120)
    assert waiter.returncode != 0 and "the first rank's reason" in err
    assert len((tmp_path / "c++.log").read_text().splitlines()) == 1, "the waiter did not compile"
    with pytest.raises(native.BuildError, match="no such header"):
        native.build()  # started after the failure: compiles again
    assert len((tmp_path / "c++.log").read_text().splitlines()) == 2
    monkeypatch.setenv("CXX", str(_fake_compiler(tmp_path / "c++", fails=False)))
    assert native.build().is_file()


def test_the_build_command_builds_both_libraries_then_finds_them_built(fakes, tmp_path):
    cache = tmp_path / "cache"
    first = _cli("build", "--arch", "sm_90", "--arch", "sm_80,sm_86", **fakes)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    (cpu,), (gpu,) = cache.glob("*/libdali_mixup_ops.so"), cache.glob("*/libdali_mixup_gpu.so")
    assert re.fullmatch(f"CPU operators: built in \\d+ s: {cpu}\n"
                        f"GPU operators for sm_80, sm_86, sm_90: built in \\d+ s: {gpu}\n"
                        f"cache: {cache}\n", first.stdout), first.stdout
    again = _cli("build", "--arch", "sm_86,sm_80,sm_90", **fakes)
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout == (f"CPU operators: already built: {cpu}\n"
                            f"GPU operators for sm_80, sm_86, sm_90: already built: {gpu}\n"
                            f"cache: {cache}\n")


def test_the_build_command_exits_1_with_the_reason_when_a_build_fails(fakes, tmp_path):
    _fake_nvcc(tmp_path / "cuda", fails=True)
    gpu_fails = _cli("build", "--arch", "sm_80", **fakes)
    assert gpu_fails.returncode == 1
    assert re.fullmatch(f"CPU operators: built in \\d+ s: {tmp_path}/cache/\\w+/libdali_mixup_ops.so\n"
                        f"cache: {tmp_path}/cache\n", gpu_fails.stdout), gpu_fails.stdout
    assert gpu_fails.stderr == (f"GPU operators for sm_80: not built (--no-gpu skips them): compiling "
                                f"{_names('.cu')} failed:\nop.cu(3): error: identifier \"x\" is undefined\n")
    no_compiler = {"CXX": str(_fake_compiler(tmp_path / "g++", fails=True)),
                   "CUDA_HOME": str(tmp_path / "none")}
    cpu_fails = _cli("build", "--no-gpu", **{**fakes, **no_compiler})
    assert (cpu_fails.returncode, cpu_fails.stdout) == (1, f"cache: {tmp_path}/cache\n")
    assert cpu_fails.stderr == (f"CPU operators: not built: compiling {_names('.cc')} failed:\n"
                                "no such header\n")


def test_the_build_command_says_when_the_compiler_warned(fakes, tmp_path):
    warns = tmp_path / "warns"
    warns.write_text(f"#!/bin/sh\n[ \"$1\" = --version ] || echo 'op.cc:1: warning: unused variable' >&2\n"
                     f"exec {fakes['CXX']} \"$@\"\n")
    warns.chmod(0o755)
    done = _cli("build", "--no-gpu", **{**fakes, "CXX": str(warns)})
    (log,) = (tmp_path / "cache").glob("*/build.log")
    assert (done.returncode, done.stderr) == (0, f"CPU operators: the compiler warned; see {log}\n")
    assert log.read_text().split("\n", 1)[1] == "op.cc:1: warning: unused variable\n"


def test_the_build_command_refuses_a_bad_architecture(fakes):
    done = _cli("build", "--arch", "sm_80,sm90", **fakes)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("dali-mixup build: error: --arch: expected GPU architectures such as sm_80 or "
                           "sm_90, got 'sm90'\n")


def test_importing_without_dali_says_which_flavour_to_install():
    done = _python("""
        import sys
        sys.modules["nvidia.dali"] = None  # as if no DALI were installed
        import dali_mixup
        """)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "ImportError: dali_mixup needs NVIDIA DALI: install dali-mixup[cu12] (DALI for CUDA 12) or "
        "dali-mixup[cu13] (DALI for CUDA 13, NVIDIA driver 580 or newer)")
