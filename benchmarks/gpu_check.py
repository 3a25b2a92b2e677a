"""One check of the GPU path on a machine with a CUDA device, in a few minutes once the
benchmark's data set exists.

    python benchmarks/gpu_check.py                      # report: benchmarks/out/gpu_check.md
    python benchmarks/gpu_check.py --report check.md    # its files beside it, in check/

Steps, each in a subprocess with its own time limit (one that fails or hangs is reported,
and the next one runs):

    build       python -m dali_mixup build: the CPU and GPU operators, compiled or taken from the cache
    tests       python -m pytest -m gpu tests: every GPU-marked test
    data        the throughput benchmark's built-in data set, generated here if it is missing
    stage       benchmarks/stage.py --device gpu: our operator, DALI's operators and a device
                copy, on a resident batch of 256 x 224 x 224 x 3 uint8
    throughput  benchmarks/throughput.py in fewer rounds: our pipeline on the GPU with and without
                mixing, and the DataLoader recipe mixing in its workers and on the GPU

then one Markdown report: the machine (GPU, driver, CUDA, DALI, torch, Python), each step's
exit status, time and figures (or the end of its output where it failed), and the three
targets met or missed. Nothing is downloaded: it runs what is installed, with this Python,
the repository root first on PYTHONPATH (DALI may come from pip or from a folder on PYTHONPATH).

Exit status: 0 every step passed and every target was met; 1 a step failed, or a target was
missed or could not be measured (the report says which); 2 bad arguments; 3 no CUDA device
that DALI can use here: nothing was run and no report written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(REPO))

NO_GPU = 3  # the exit status without a usable CUDA device
# Seconds per step: the whole check takes a few minutes; these only stop a step that hangs.
TIMEOUTS = {"probe": 120, "build": 300, "tests": 300, "stage": 180, "throughput": 300}
THROUGHPUT_ROUNDS = ["--repeats", "3", "--batches", "16", "--warmup", "4", "--max-other-share", "1"]
TAIL_LINES = 40  # of a failed step's output, in the report
STAGE_TARGET = "stage alone on a resident batch: our operator's slowest configuration / a device copy of the output"
THROUGHPUT_TARGETS = {  # (numerator, denominator): what the ratio compares
    ("dali-mix", "dali-nomix"): "train_pipeline on the GPU: with mixing / without mixing",
    ("dali-mix", "dataloader-gpumix"): "ours on the GPU / DataLoader mixing on the GPU after the copy "
                                       "(same CPU cores)",
}
# A CUDA device DALI can use: it runs a pipeline there and reads the result back.
PROBE = """
import numpy as np
from nvidia.dali import backend, fn, pipeline_def
if backend.GetCUDADeviceCount() < 1:
    raise SystemExit("DALI finds no CUDA device")
@pipeline_def(batch_size=1, num_threads=1, device_id=0)
def pipe():
    return fn.external_source(source=lambda: [np.arange(4, dtype=np.uint8)], batch=True).gpu() + 1
p = pipe()
p.build()
assert np.array(p.run()[0].as_cpu()[0]).tolist() == [1, 2, 3, 4]
"""


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """What one step did. ``returncode`` None: stopped at its time limit."""

    name: str
    command: str
    returncode: int | None
    seconds: float
    passed: bool  # exit status 0, and whatever else the step requires (tests: none skipped)
    details: str  # Markdown: the step's figures, or the end of its output where it failed


@dataclass(frozen=True, kw_only=True)
class Target:
    label: str
    bound: str  # as written in the report: "<= 1.5", ">= 3"
    ratio: float | None  # None: not measured
    met: bool
    note: str = ""  # why it was not measured


# ---------------------------------------------------------------- the machine


def _nvidia_smi() -> dict[str, str]:
    """The first GPU's name, driver and memory, from nvidia-smi where it is installed."""
    fields = ("name", "driver_version", "memory.total")
    try:
        done = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {}
    return dict(zip(fields, (value.strip() for value in lines[0].split(","))))


def _nvcc() -> str:
    """The nvcc the GPU build uses (``dali_mixup.native``'s search) and its release line."""
    from dali_mixup import native

    try:
        found = native._nvcc()
    except native.BuildError:
        return "not found"
    release = [line for line in native._version(found).splitlines() if "release" in line]
    return f"{release[0].strip() if release else 'unknown version'} ({found})"


def describe_gpu_machine() -> dict[str, str]:
    """The report's machine table: row name -> value."""
    import nvidia.dali as dali
    import torch
    from nvidia.dali import backend

    from benchmarks.report import describe_code, describe_commit, describe_machine

    machine = describe_machine()
    smi = _nvidia_smi()
    name = smi.get("name") or machine["gpu"] or "unknown (no nvidia-smi, and torch has no CUDA)"
    cuda = backend.GetCudaVersion()  # what the driver supports, as 1000 * major + 10 * minor
    return {
        "GPU": f"{name}, {smi['memory.total']}" if "memory.total" in smi else name,
        "driver": smi.get("driver_version", "unknown (no nvidia-smi)"),
        "CUDA (driver)": f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda > 0 else "unknown",
        "nvcc": _nvcc(),
        "DALI": f"{dali.__version__} ({Path(dali.__file__).parent})",
        "torch": f"{torch.__version__}, " + (f"CUDA {torch.version.cuda}" if torch.cuda.is_available()
                                             else "without CUDA: no GPU contenders in the throughput step"),
        "Python": f"{machine['versions']['python']} ({sys.executable})",
        "CPU": f"{machine['cpu']}, {machine['usable_cores']} usable cores",
        "code": describe_commit(describe_code()),
    }


def gpu_problem(env: dict[str, str]) -> str | None:
    """Why DALI cannot use a CUDA device here, or None where it can."""
    from nvidia.dali import backend

    if backend.GetCUDADeviceCount() < 1:
        return "DALI finds no CUDA device"
    try:
        done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                              timeout=TIMEOUTS["probe"])
    except subprocess.TimeoutExpired:
        return f"a pipeline on CUDA device 0 did not finish within {TIMEOUTS['probe']} s"
    if done.returncode != 0:
        return "a pipeline on CUDA device 0 failed:\n" + "\n".join(done.stderr.strip().splitlines()[-10:])
    return None


# ---------------------------------------------------------------- the steps


def child_env() -> dict[str, str]:
    """This environment, with the repository root first on PYTHONPATH: the steps check this
    checkout, whatever is installed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_command(argv: Sequence[str], *, timeout: float, env: dict[str, str],
                log: Path) -> tuple[int | None, str, float]:
    """(exit status or None if stopped at ``timeout``, stdout and stderr together, seconds); the
    output also goes to ``log``. A step that runs over is stopped with every process it
    started (DataLoader workers included)."""
    start = time.monotonic()
    with subprocess.Popen(list(argv), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", start_new_session=True) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
            returncode = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            output += f"\n[stopped after {timeout:.0f} s]\n"
            returncode = None
    seconds = time.monotonic() - start
    log.write_text(output)
    return returncode, output, seconds


def tail(output: str, lines: int = TAIL_LINES) -> str:
    """The end of a step's output as a Markdown code block."""
    kept = output.rstrip().splitlines()[-lines:]
    return "```text\n" + "\n".join(kept) + "\n```"


_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|xfailed|xpassed|errors?|warnings?)\b")
_SUMMARY = re.compile(r"^[=\s]*(?:\d+ \w+(?:, )?)+ in [\d.]+s")


def pytest_counts(output: str) -> dict[str, int]:
    """The counts of pytest's last summary line ("3 passed, 2 skipped in 4.1s"), by outcome
    ("error" and "warning" singular)."""
    summaries = [line for line in output.splitlines() if _SUMMARY.match(line)]
    if not summaries:
        return {}
    return {kind.rstrip("s") if kind.startswith(("error", "warning")) else kind: int(n)
            for n, kind in _COUNT.findall(summaries[-1])}


def pytest_notes(output: str) -> list[str]:
    """pytest's short summary lines: each skip with its reason, each failure and error."""
    return [line.strip() for line in output.splitlines() if line.startswith(("SKIPPED ", "FAILED ", "ERROR "))]


def tests_result(command: str, returncode: int | None, output: str, seconds: float) -> StepResult:
    """Passed: exit status 0 and no test skipped (on a machine with a GPU, a skipped GPU test
    is a check that did not happen)."""
    counts = pytest_counts(output)
    passed = returncode == 0 and counts.get("skipped", 0) == 0 and counts.get("passed", 0) > 0
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "no summary line"
    lines = [f"- {summary}"] + [f"- `{note}`" for note in pytest_notes(output)]
    # Without a summary pytest crashed or was stopped: its output's end says where.
    details = "\n".join(lines) + ("" if counts else "\n\n" + tail(output))
    return StepResult(name="tests", command=command, returncode=returncode, seconds=seconds, passed=passed,
                      details=details)


def stage_result(command: str, returncode: int | None, output: str, seconds: float,
                 figures: dict | None) -> tuple[StepResult, Target]:
    """The step and the stage's target from stage.py's JSON (``figures``; None where it wrote none)."""
    from benchmarks.stage import GPU_TARGET, render_table

    bound = f"<= {GPU_TARGET}"
    if returncode != 0 or figures is None:
        step = StepResult(name="stage", command=command, returncode=returncode, seconds=seconds, passed=False,
                          details=tail(output))
        return step, Target(label=STAGE_TARGET, bound=bound, ratio=None, met=False, note="the stage step failed")
    size = figures["batch_size"]
    shape = " x ".join(map(str, figures["input"]["shape"]))
    head = (f"{size} x {shape} {figures['input']['dtype']} {figures['input']['layout']} -> {figures['output']}, "
            f"resident on the GPU; floor: {figures['floor']}; median of {figures['repeats']} x "
            f"{figures['iterations']} iterations.")
    step = StepResult(name="stage", command=command, returncode=returncode, seconds=seconds, passed=True,
                      details=head + "\n\n" + render_table(figures["rows"]))
    found = figures["target"]
    if found is None:
        return step, Target(label=STAGE_TARGET, bound=bound, ratio=None, met=False,
                            note="our GPU operator is unavailable: only DALI's operators ran")
    return step, Target(label=f"{STAGE_TARGET} ({size} x {shape} {figures['input']['dtype']}, slowest: "
                              f"{found['contender']})", bound=bound, ratio=found["ratio"], met=found["met"])


def throughput_result(command: str, returncode: int | None, output: str, seconds: float,
                      report: dict | None, markdown: str | None) -> tuple[StepResult, list[Target]]:
    """The step and the two throughput targets from throughput.py's results.json (``report``)
    and results.md (``markdown``); None where it wrote none."""
    from benchmarks.recipe import GPU_TARGETS

    bounds = {(num, den): minimum for num, den, minimum in GPU_TARGETS}
    failed = returncode != 0 or report is None or markdown is None
    # The run's own heading line, under the step's heading, as a plain line.
    details = tail(output) if failed else re.sub(r"^#+ ", "", markdown.strip())
    step = StepResult(name="throughput", command=command, returncode=returncode, seconds=seconds,
                      passed=not failed, details=details)
    # Without a GPU the run's targets are the CPU ones, one of them on the same pair.
    on_gpu = not failed and report["machine"]["gpu"] is not None
    measured = {(t["numerator"], t["denominator"]): t for t in report["targets"]} if on_gpu else {}
    note = "the throughput step failed" if failed else "no GPU contenders ran: torch has no CUDA here"
    targets = []
    for key, label in THROUGHPUT_TARGETS.items():
        bound = f">= {bounds[key]:g}"
        if key in measured:
            targets.append(Target(label=label, bound=bound, ratio=measured[key]["ratio"], met=measured[key]["met"]))
        else:
            targets.append(Target(label=label, bound=bound, ratio=None, met=False, note=note))
    return step, targets


def data_step(cache: Path) -> StepResult:
    """The throughput benchmark's built-in data set, generated here where the cache lacks it."""
    from benchmarks.synthetic import ensure_dataset
    from benchmarks.throughput import FULL_DATA

    start = time.monotonic()
    try:
        root = ensure_dataset(FULL_DATA, cache_dir=cache)
    except (OSError, ValueError) as error:
        return StepResult(name="data", command="(in this process)", returncode=1,
                          seconds=time.monotonic() - start, passed=False, details=f"`{error}`")
    images = sum(1 for _ in root.rglob("*.jpg"))
    return StepResult(name="data", command="(in this process)", returncode=0, seconds=time.monotonic() - start,
                      passed=True, details=f"{images} images in `{root}`")


# ---------------------------------------------------------------- the report


def render_report(*, date: str, machine: dict[str, str], steps: Sequence[StepResult],
                  targets: Sequence[Target]) -> str:
    """The whole report, Markdown."""
    verdict = "passed" if exit_status(steps, targets) == 0 else "failed"
    lines = [f"# GPU check, {date}: {verdict}", "", "| machine | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in machine.items()]
    lines += ["", "## Targets", "", "| target | measured | bound | result |", "|---|---:|---:|---|"]
    for t in targets:
        measured = "n/a" if t.ratio is None else f"{t.ratio:.3f}"
        result = ("met" if t.met else "missed") if t.ratio is not None else f"not measured: {t.note}"
        lines.append(f"| {t.label} | {measured} | {t.bound} | {result} |")
    lines += ["", "## Steps", "", "| step | result | exit status | time | command |", "|---|---|---:|---:|---|"]
    for s in steps:
        status = "stopped at its time limit" if s.returncode is None else str(s.returncode)
        lines.append(f"| {s.name} | {'passed' if s.passed else 'failed'} | {status} | {s.seconds:.0f} s "
                     f"| `{s.command}` |")
    for s in steps:
        lines += ["", f"### {s.name}", "", s.details]
    return "\n".join(lines) + "\n"


def exit_status(steps: Sequence[StepResult], targets: Sequence[Target]) -> int:
    return 0 if all(s.passed for s in steps) and all(t.met for t in targets) else 1


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from benchmarks.synthetic import default_cache_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", type=Path, metavar="PATH", default=REPO / "benchmarks" / "out" / "gpu_check.md",
                        help="the Markdown report; the steps' logs and figures go to the folder of the same "
                             "name beside it (default: %(default)s)")
    parser.add_argument("--cache", type=Path, metavar="DIR", default=default_cache_dir(),
                        help="where the throughput benchmark's data set is cached (default: %(default)s)")
    return parser.parse_args(argv)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    env = child_env()
    problem = gpu_problem(env)
    if problem is not None:
        print(f"gpu_check: no CUDA device that DALI can use here ({problem}).\nThe GPU check needs a machine "
              f"with an NVIDIA GPU and its driver; nothing was run, no report written (exit status {NO_GPU}).",
              file=sys.stderr)
        return NO_GPU
    files = args.report.with_suffix("")
    files.mkdir(parents=True, exist_ok=True)
    date = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = describe_gpu_machine()
    python = Path(sys.executable).name

    def run(name: str, *arguments: str) -> tuple[str, int | None, str, float]:
        print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
        returncode, output, seconds = run_command([sys.executable, *arguments], timeout=TIMEOUTS[name], env=env,
                                                  log=files / f"{name}.log")
        return " ".join([python, *arguments]), returncode, output, seconds

    command, returncode, output, seconds = run("build", "-m", "dali_mixup", "build")
    steps = [StepResult(name="build", command=command, returncode=returncode, seconds=seconds,
                        passed=returncode == 0, details=tail(output))]
    steps.append(tests_result(*run("tests", "-m", "pytest", "-m", "gpu", "-q", "-rfEs", "tests")))
    steps.append(data_step(args.cache))
    stage_json = files / "stage.json"
    stage_json.unlink(missing_ok=True)
    stage = run("stage", "benchmarks/stage.py", "--device", "gpu", "--json", str(stage_json))
    stage_step, stage_target = stage_result(*stage, _read_json(stage_json))
    steps.append(stage_step)
    out = files / "throughput"
    for stale in ("results.json", "results.md"):
        (out / stale).unlink(missing_ok=True)
    throughput = run("throughput", "benchmarks/throughput.py", "--cache", str(args.cache), "--out", str(out),
                     *THROUGHPUT_ROUNDS)
    markdown = (out / "results.md").read_text() if (out / "results.md").is_file() else None
    throughput_step, throughput_targets = throughput_result(*throughput, _read_json(out / "results.json"), markdown)
    steps.append(throughput_step)
    targets = [stage_target, *throughput_targets]
    args.report.write_text(render_report(date=date, machine=machine, steps=steps, targets=targets))
    status = exit_status(steps, targets)
    print(f"gpu_check: {'passed' if status == 0 else 'failed'}; report: {args.report} (logs and figures in {files})")
    return status


if __name__ == "__main__":
    sys.exit(main())
