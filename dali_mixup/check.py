"""``dali-mixup check DATA``: decode every image of a data set with DALI's decoder and list
those that will not decode, each with the reason; exit status 1 when there is one."""

from __future__ import annotations

import argparse
import sys

NAME = "check"
HELP = "decode every image of a data set; list those that will not decode, with the reason"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="image folder, file list, .tar shard or folder of shards")
    parser.add_argument("--threads", type=int, default=None,
                        help="decoding threads (default: the usable cores)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (there is none where stderr is not a terminal)")


def run(args: argparse.Namespace) -> int:
    from pipelines import find_bad_files, open_source  # pipelines imports this package

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads: expected an integer >= 1, got {args.threads}")
    source = open_source(args.data)
    bad = find_bad_files(source, decode=True, num_threads=args.threads,
                         progress=not args.no_progress and sys.stderr.isatty())
    for file in bad:
        print(file)
    total = source.num_samples
    print(f"{len(bad)} of {total} images will not decode" if bad else f"all {total} images decode",
          file=sys.stderr)
    return 1 if bad else 0
