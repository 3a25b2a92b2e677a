"""Building and loading the stage's CPU operator: cache, parallel builds, and the fallback."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from dali_mixup import native


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=300)


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


def test_with_a_compiler_the_stage_uses_its_cpu_operator():
    """Else the "cpu" tests would quietly test DALI's operators twice."""
    if not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        pytest.skip("no C++ compiler on this machine")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert native.available() is True


def test_a_failed_compile_reports_the_compilers_output(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", str(_fake_compiler(tmp_path / "c++", fails=True)))
    monkeypatch.setenv("DALI_MIXUP_CACHE", str(tmp_path / "cache"))
    with pytest.raises(native.BuildError, match="compiling mix_op.cc failed:\nno such header"):
        native.build()
    assert not list((tmp_path / "cache").glob("*/*.so"))


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
    assert done.stdout.startswith("1 RuntimeWarning dali_mixup: the one-pass CPU operator is "
                                  "unavailable (no C++ compiler found (tried $CXX, g++, c++, clang++))")


def test_fused_zero_selects_dalis_operators_without_a_warning(monkeypatch):
    monkeypatch.setenv("DALI_MIXUP_FUSED", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert native.available() is False


def _fake_compiler(path: Path, *, fails: bool) -> Path:
    """A stand-in for g++ that logs each compile to ``<path>.log``, then fails or writes the output."""
    path.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ "$1" = --version ] && echo 'fake 1.0' && exit 0
        echo compile >> {path}.log
        {"echo 'no such header' >&2; exit 1" if fails else 'while [ "$1" != -o ]; do shift; done; touch "$2"'}
        """))
    path.chmod(0o755)
    return path


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
    assert (tmp_path / "c++.log").read_text().count("compile") == 1, "the waiter did not compile"
    with pytest.raises(native.BuildError, match="no such header"):
        native.build()  # started after the failure: compiles again
    assert (tmp_path / "c++.log").read_text().count("compile") == 2
    monkeypatch.setenv("CXX", str(_fake_compiler(tmp_path / "c++", fails=False)))
    assert native.build().is_file()
