"""``dali-mixup build``: compile the stage's native operators ahead of time (for a Docker image,
or before ``torchrun`` starts many ranks), print what was built and where; exit status 1 when a
requested build fails."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import native

NAME = "build"
HELP = "compile the stage's CPU and GPU operators now, into the cache that every process then loads from"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", action="append", metavar="sm_XX[,sm_YY...]",
                        help="GPU architectures to compile for, repeatable; the highest also as PTX "
                             "for newer GPUs (default: $DALI_MIXUP_CUDA_ARCHS, else the visible GPUs', "
                             f"else {','.join(native.DEFAULT_ARCHS)})")
    parser.add_argument("--no-gpu", action="store_true", help="build the CPU operators only")


def run(args: argparse.Namespace) -> int:
    archs = None if args.arch is None else native.parse_archs(",".join(args.arch), name="--arch")
    ok = _report("CPU operators", native.build)
    if not args.no_gpu:
        archs = archs or native.default_archs()
        ok &= _report(f"GPU operators for {', '.join(archs)}", lambda: native.build_gpu(archs),
                      hint=" (--no-gpu skips them)")
    print(f"cache: {native.cache_dir()}")
    return 0 if ok else 1


def _report(what: str, build: Callable[[], Path], *, hint: str = "") -> bool:
    """Build, and say on stdout what was built (or found built) and where, or on stderr why not."""
    cached = set(native.cache_dir().glob("*/*.so"))
    start = time.monotonic()
    try:
        library = build()
    except native.BuildError as error:
        print(f"{what}: not built{hint}: {error}", file=sys.stderr)
        return False
    done = "already built" if library in cached else f"built in {time.monotonic() - start:.0f} s"
    print(f"{what}: {done}: {library}")
    log = library.parent / "build.log"
    if log.is_file() and log.read_text().split("\n", 1)[1].strip():  # the compiler had more to say
        print(f"{what}: the compiler warned; see {log}", file=sys.stderr)
    return True
