"""Training-input throughput: our DALI pipeline with mixing against what users would pick instead.

Every contender reads the same image folder and hands the training loop the same
thing: a batch of normalized float32 NCHW images and its targets, using the same
number of CPU threads or worker processes. Contenders:

1. ``dali-mix``: ``pipelines.train_pipeline`` with Mixup/CutMix (timm's 0.5 switch), via
   ``DALILoader``; on the GPU where torch has CUDA, else on the CPU.
2. ``dali-nomix``: the same pipeline without mixing; 1 against 2 is the cost of our stage.
3. ``dataloader-mix``: ``torch.utils.data.DataLoader`` over torchvision's ``ImageFolder`` with
   its training transforms and v2 ``MixUp``/``CutMix`` in the ``collate_fn`` (an equivalent
   Pillow + torch recipe when torchvision is missing). Every ratio is taken against this one
   and against 1.
4. ``dataloader-gpumix`` (only with a GPU): the same DataLoader without mixing, the batch
   copied to the GPU and mixed there, as NVIDIA's training examples do.
5. ``nvidia-recipe``: NVIDIA's recipe (DeepLearningExamples' image classification): contender 2
   through ``DALILoader`` (class ids), then Mixup only in torch after the iterator, as its
   ``mixup.py`` does (one lam per batch from ``np.random.beta``, a ``torch.randperm`` partner),
   on the same device as contender 2.
6. ``timm-loader`` (where timm imports): timm's own loader as its ``train.py`` builds it,
   ``create_loader`` with ``FastCollateMixup`` (contender 1's mixing options, applied to uint8
   batches in the workers' collate) and its ``PrefetchLoader`` normalizing, on the GPU where
   torch has CUDA, else on the CPU.
7. ``spdl-pipeline`` (where SPDL loads FFmpeg's libraries): Meta's SPDL, a thread pool that
   decodes with FFmpeg and crops, resizes and flips in FFmpeg's filters, then normalizes and
   mixes each batch in torch with contender 3's mixer, on the CPU.

A contender whose library is missing is skipped, and the report says why.

``--recipe heavy`` runs timm's ConvNeXt/DeiT-style training input instead of the light recipe
above (crop, flip, mixing): RandAugment ``rand-m9-mstd0.5-inc1`` and random erasing (chance 0.25)
added (``recipe.HEAVY_AUGMENT``), with fewer contenders, those that can run RandAugment:

1. ``dali-mix``: ``train_pipeline`` with the heavy recipe (per-pixel noise erasing, no colour
   jitter, bilinear resizing), via ``DALILoader``.
2. ``dali-light``: contender 1 with the light recipe: what RandAugment and erasing cost ours.
3. ``dataloader-mix``: torchvision's recipe with ``v2.RandAugment(num_ops=2, magnitude=9)`` on the
   PIL image and ``v2.RandomErasing(0.25)`` after normalizing, where torchvision's reference
   recipe puts them; skipped where torchvision is missing (no stand-in for RandAugment), and
   every ratio to it is then n/a.
6. ``timm-loader``: timm's loader with the same ``auto_augment`` and ``re_*`` options as 1 (its
   ``PrefetchLoader`` erases after normalizing); skipped where timm is missing.

and the decode-only ceiling. Results go to ``benchmarks/out/heavy`` by default, beside a light run's.

Beside them, not a contender (no target, no output check): the decode-only ceiling
(``decode-only``, timed in the same rounds), a CPU DALI pipeline reading the same files with as many threads and
decoding the random-resized-crop window only, its outputs taken from ``pipe.run()`` as they
are: what reading and decoding alone allow, and the share of it that 1 reaches.

Targets (``recipe.TARGETS``, ``recipe.GPU_TARGETS``): without a GPU, 1 at least 3x 3, 0.97x 2
and 0.70x the decode-only ceiling; with one, 1 at least 3x 4 (the same CPU cores) and 0.99x 2.
With ``--recipe heavy`` (``recipe.HEAVY_TARGETS``): 1 at least 2x 3 and 0.75x ``dali-light``; a
target whose contender was skipped is reported as not measured.

Method: ``--repeats`` rounds; in each round every contender (in an order rotated from round
to round) starts a fresh instance (pipeline or DataLoader), warms it up over ``--warmup``
batches, drains what it prefetched while a full run checked the machine for quiet, times
``--batches`` batches and stops it: instances of one pipeline differ by a few percent in
speed for as long as they live, so each round draws a new one. Full runs wait for other processes to leave the CPU
before each timed round and run a round they disturbed again. Results go to a Markdown table on the terminal (images/s, per core, and the
ratios to 1 and to 3) and, under ``--out``, to ``results.json`` (every figure and the machine),
``results.md`` and ``throughput.png``; a heavy run's report names its recipe and lists each
contender's augmentation options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.alternatives import NvidiaMixup, decode_only_stream, nvidia_stream
from benchmarks.baseline import dataloader_stream, torchvision_available
from benchmarks.recipe import (
    CEILING,
    CUTMIX_ALPHA,
    HFLIP,
    LABEL_SMOOTHING,
    LIGHT,
    MIXUP_ALPHA,
    QUIET_SHARE,
    RAND_MAGNITUDE,
    RAND_NUM_OPS,
    RATIO,
    RE_PROB,
    RECIPES,
    SCALE,
    REFERENCE,
    Batch,
    Contender,
    DataInfo,
    Settings,
    Skipped,
    augment_options,
    mix_config,
)
from benchmarks.report import build_report, describe_machine, write_outputs
from benchmarks.spdl_loader import spdl_missing, spdl_stream
from benchmarks.synthetic import SyntheticSpec, default_cache_dir, ensure_dataset
from benchmarks.timing import Progress, check_fair, settle_batches, time_rounds
from benchmarks.timm_loader import timm_missing, timm_stream, zero_bits_refused
from pipelines import image_folder

FULL = dict(batch_size=128, warmup=8, batches=24, repeats=7, max_other_share=QUIET_SHARE, patience=600.0)
QUICK = dict(batch_size=32, warmup=2, batches=4, repeats=2, max_other_share=1.0, patience=0.0)
FULL_DATA = SyntheticSpec(num_classes=10, images_per_class=128)
QUICK_DATA = SyntheticSpec(num_classes=4, images_per_class=24)


# ---------------------------------------------------------------- data


def scan_image_folder(root: Path) -> tuple[list[tuple[Path, int]], int]:
    """(path, label) pairs and the class count of an ``ImageFolder``-style tree, read as our
    pipelines read it, so that every contender gets the very same files.

    Raises ``ValueError`` saying what was expected when the folder is missing or holds no images.
    """
    try:
        source = image_folder(root)
    except OSError as error:  # missing, or not a directory
        raise ValueError(f"--data: expected an existing directory: {error}") from None
    except ValueError as error:
        raise ValueError(f"--data: {error}") from None
    return [(Path(f), label) for f, label in zip(source.files, source.labels)], len(source.classes)


def resolve_data(data: Path | None, *, cache: Path, quick: bool) -> DataInfo:
    """The user's folder, or the built-in synthetic set (generated on first use)."""
    root = data if data is not None else ensure_dataset(QUICK_DATA if quick else FULL_DATA, cache_dir=cache)
    samples, num_classes = scan_image_folder(root)
    return DataInfo(root=root, samples=samples, num_classes=num_classes, synthetic=data is None)


# ---------------------------------------------------------------- contenders 1 and 2: our pipeline


def dali_stream(data: DataInfo, settings: Settings, *, mixing: bool, device: str,
                recipe: str = "light") -> Iterator[Batch]:
    """Endless batches from ``train_pipeline`` on ``device`` ("cpu" or "gpu") through
    ``DALILoader``, augmented with ``recipe``, with or without mixing."""
    from dali_mixup import DALILoader
    from pipelines import train_pipeline

    pipe = train_pipeline(
        str(data.root),
        batch_size=settings.batch_size,
        image_size=settings.image_size,
        scale=SCALE,
        ratio=RATIO,
        hflip=HFLIP,
        **augment_options(recipe),
        mix=mix_config(data.num_classes) if mixing else None,
        num_threads=settings.workers,
        device=device,
        seed=settings.seed,
    )
    loader = DALILoader(pipe)
    while True:
        yield from loader


# ---------------------------------------------------------------- contender 5 and the ceiling


def nvidia_recipe_stream(data: DataInfo, settings: Settings, *, device: str) -> Iterator[Batch]:
    """Contender 2's batches mixed after the iterator, as DeepLearningExamples does."""
    mixer = NvidiaMixup(alpha=MIXUP_ALPHA, num_classes=data.num_classes, label_smoothing=LABEL_SMOOTHING)
    batches = dali_stream(data, settings, mixing=False, device=device)
    try:
        yield from nvidia_stream(batches, mixer)
    finally:
        batches.close()


def runnable(candidates: Sequence[tuple[Contender, Callable[[], str | None]]]) -> tuple[
        list[Contender], list[Skipped]]:
    """The candidates whose check (why it cannot run here, or None) passes, and a ``Skipped``
    record with the reason for each of the others."""
    ran, skipped = [], []
    for contender, missing in candidates:
        reason = missing()
        if reason is None:
            ran.append(contender)
        else:
            skipped.append(Skipped(contender.key, contender.number, contender.label, reason))
    return ran, skipped


def timm_contender(data: DataInfo, settings: Settings, *, gpu: bool, recipe: str = "light") -> Contender:
    """Contender 6, timm's loader, with ``recipe``; the heavy one lists its options."""
    device = "cuda" if gpu else "cpu"
    stream = lambda: timm_stream(data, settings, device=device, recipe=recipe)  # noqa: E731
    if recipe == "light":
        return Contender("timm-loader", 6, "timm's loader as its train.py builds it: create_loader, FastCollateMixup "
                         f"in the workers' collate (uint8), PrefetchLoader normalizing on the {device.upper()}", stream)
    return Contender("timm-loader", 6, "timm's loader as its train.py builds it: create_loader with RandAugment and "
                     "random erasing, FastCollateMixup in the workers' collate (uint8), PrefetchLoader normalizing "
                     f"and erasing on the {device.upper()}", stream,
                     options=f"create_loader({arguments(augment_options(recipe))}) + FastCollateMixup({MIX_ARGUMENTS})"
                             + ("; posterize to 0 bits gives black, as with Pillow 12" if zero_bits_refused() else ""))


def optional_contenders(data: DataInfo, settings: Settings, *, backend: str, gpu: bool) -> tuple[
        list[Contender], list[Skipped]]:
    """Contenders 6 and 7 where their libraries load here; why not, for each one that cannot run."""
    library = "torchvision" if backend == "torchvision" else "Pillow + torch"
    return runnable([
        (timm_contender(data, settings, gpu=gpu), timm_missing),
        (Contender("spdl-pipeline", 7, "SPDL thread-pool pipeline: FFmpeg decoding, crop, resize and flip, "
                   f"then normalization and {library} mixing in torch, on the CPU",
                   lambda: spdl_stream(data, settings, backend=backend)), spdl_missing),
    ])


def build_contenders(data: DataInfo, settings: Settings, *, backend: str, gpu: bool,
                     recipe: str = "light") -> tuple[list[Contender], list[Skipped]]:
    """The contenders of ``recipe`` this machine can run, and those it cannot with the reason.
    Each round starts and stops its own instance of each, so a DataLoader's workers never fork
    beside a live DALI pipeline's threads."""
    if recipe == "heavy":
        return heavy_contenders(data, settings, backend=backend, gpu=gpu)
    library = "torchvision" if backend == "torchvision" else "Pillow + torch"
    contenders = [
        Contender(REFERENCE, 3, f"DataLoader, {library}, mixing in collate_fn",
                  lambda: dataloader_stream(data, settings, backend=backend, mix_on_gpu=False)),
    ]
    if gpu:
        contenders.append(
            Contender("dataloader-gpumix", 4, f"DataLoader, {library}, mixing on the GPU after the copy",
                      lambda: dataloader_stream(data, settings, backend=backend, mix_on_gpu=True)))
    # On the GPU only where torch has CUDA too: DALILoader hands out torch's CUDA tensors.
    device = "gpu" if gpu else "cpu"
    contenders += [
        Contender("dali-mix", 1, f"DALI train_pipeline on the {device.upper()}, with mixing",
                  lambda: dali_stream(data, settings, mixing=True, device=device)),
        Contender("dali-nomix", 2, f"DALI train_pipeline on the {device.upper()}, without mixing",
                  lambda: dali_stream(data, settings, mixing=False, device=device)),
        Contender("nvidia-recipe", 5, f"NVIDIA's recipe (DeepLearningExamples): DALI on the {device.upper()} "
                  "without mixing, Mixup only in torch after the iterator",
                  lambda: nvidia_recipe_stream(data, settings, device=device)),
        Contender(CEILING, 0, "decode-only ceiling: DALI reads and decodes the crop window on the CPU, "
                  "nothing after it", lambda: decode_only_stream(data, settings), ceiling=True),
    ]
    optional, skipped = optional_contenders(data, settings, backend=backend, gpu=gpu)
    return contenders + optional, skipped


def arguments(options: dict[str, object]) -> str:
    """Keyword arguments as Python writes them, for a heavy run's list of each contender's options."""
    return ", ".join(f"{name}={value!r}" for name, value in options.items())


MIX_ARGUMENTS = arguments({"mixup_alpha": MIXUP_ALPHA, "cutmix_alpha": CUTMIX_ALPHA})
NO_TORCHVISION = ("torchvision does not import here (pip install the torchvision built for this torch): "
                  "the heavy recipe's RandAugment has no Pillow + torch stand-in")


def heavy_contenders(data: DataInfo, settings: Settings, *, backend: str, gpu: bool) -> tuple[
        list[Contender], list[Skipped]]:
    """The contenders of ``--recipe heavy``: ours with it and with the light recipe, the decode-only
    ceiling, and torchvision's DataLoader and timm's loader with it, each skipped with the reason
    where its library is missing. Each lists its augmentation options for the report."""
    device = "gpu" if gpu else "cpu"
    mix = f"mix=MixConfig({MIX_ARGUMENTS})"
    contenders = [
        Contender("dali-mix", 1, f"DALI train_pipeline on the {device.upper()}, heavy recipe, with mixing",
                  lambda: dali_stream(data, settings, mixing=True, device=device, recipe="heavy"),
                  options=f"train_pipeline({arguments(augment_options('heavy'))}, {mix})"),
        Contender(LIGHT, 2, f"DALI train_pipeline on the {device.upper()}, light recipe (crop, flip, mixing)",
                  lambda: dali_stream(data, settings, mixing=True, device=device),
                  options=f"train_pipeline({mix}): crop, flip and mixing only"),
        Contender(CEILING, 0, "decode-only ceiling: DALI reads and decodes the crop window on the CPU, "
                  "nothing after it", lambda: decode_only_stream(data, settings), ceiling=True),
    ]
    reference = Contender(
        REFERENCE, 3, "DataLoader, torchvision, heavy recipe (RandAugment, RandomErasing), mixing in collate_fn",
        lambda: dataloader_stream(data, settings, backend=backend, mix_on_gpu=False, recipe="heavy"),
        options=f"v2: RandomResizedCrop({settings.image_size}), RandomHorizontalFlip({HFLIP}), "
                f"RandAugment(num_ops={RAND_NUM_OPS}, magnitude={RAND_MAGNITUDE}, interpolation=BILINEAR), "
                f"PILToTensor(), ToDtype(float32, scale=True), Normalize(), RandomErasing({RE_PROB}) + "
                f"RandomChoice([MixUp(alpha={MIXUP_ALPHA}), CutMix(alpha={CUTMIX_ALPHA})]) in the collate_fn")
    optional, skipped = runnable([
        (reference, lambda: None if backend == "torchvision" else NO_TORCHVISION),
        (timm_contender(data, settings, gpu=gpu, recipe="heavy"), timm_missing),
    ])
    return contenders + optional, skipped


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare training-input throughput: our DALI pipeline with mixing against the "
                    "DataLoader recipe with torchvision's MixUp/CutMix, NVIDIA's recipe, timm's loader and "
                    "SPDL, on the same data and cores; with --recipe heavy, with RandAugment and random "
                    "erasing against torchvision's and timm's loaders.")
    parser.add_argument("--data", type=Path, metavar="DIR", help="image folder, one sub-folder per class "
                        "(default: a built-in ImageNet-like synthetic set, generated once and cached)")
    parser.add_argument("--cache", type=Path, metavar="DIR", default=default_cache_dir(),
                        help="where the built-in set is cached (default: %(default)s)")
    parser.add_argument("--recipe", choices=RECIPES, default="light",
                        help="light: random-resized-crop, flip and MixUp/CutMix; heavy: timm's ConvNeXt/DeiT "
                             "recipe, RandAugment rand-m9-mstd0.5-inc1 and random erasing (0.25) added, against "
                             "torchvision's and timm's loaders with them and ours with the light recipe "
                             "(default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="folder for results.json, results.md and throughput.png (default: "
                             f"{default_out('light')}, {default_out('heavy')} with --recipe heavy)")
    parser.add_argument("--quick", action="store_true", help="a run of well under a minute that checks the "
                        "benchmark works: small batches, few rounds, a small built-in set")
    parser.add_argument("--batch-size", type=int, metavar="N", help=f"images per batch "
                        f"(default: {FULL['batch_size']}, {QUICK['batch_size']} with --quick)")
    parser.add_argument("--image-size", type=int, metavar="PX", default=224,
                        help="side of the square output images (default: %(default)s)")
    parser.add_argument("--workers", type=int, metavar="N", default=len(os.sched_getaffinity(0)),
                        help="DALI threads and DataLoader worker processes, the same for every contender "
                             "(default: the usable cores, %(default)s)")
    parser.add_argument("--warmup", type=int, metavar="N", help=f"untimed batches of each contender's fresh "
                        f"instance in every round (default: {FULL['warmup']}, {QUICK['warmup']} with --quick)")
    parser.add_argument("--batches", type=int, metavar="N", help=f"timed batches per contender and round "
                        f"(default: {FULL['batches']}, {QUICK['batches']} with --quick)")
    parser.add_argument("--repeats", type=int, metavar="N", help=f"rounds, each running every contender in a "
                        f"rotated order (default: {FULL['repeats']}, {QUICK['repeats']} with --quick)")
    parser.add_argument("--max-other-share", type=float, metavar="SHARE", help="before each timed round, wait "
                        "until other processes take at most this share of the CPU, and run a round they "
                        "disturbed again (up to twice); 1 turns this off (default: "
                        f"{FULL['max_other_share']}, {QUICK['max_other_share']} with --quick)")
    parser.add_argument("--patience", type=float, metavar="SECONDS", help="the longest time, in all, to wait "
                        f"for other processes (default: {FULL['patience']:.0f}, {QUICK['patience']:.0f} with --quick)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of data order, augmentation and round order (default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("batch_size", "image_size", "workers", "batches", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')}: expected an integer >= 1, got {value}")
    for name in ("warmup", "patience"):
        value = getattr(args, name)
        if value is not None and value < 0:
            parser.error(f"--{name}: expected a number >= 0, got {value}")
    if args.max_other_share is not None and not 0 <= args.max_other_share <= 1:
        parser.error(f"--max-other-share: expected a number in [0, 1], got {args.max_other_share}")
    if args.out is None:
        args.out = default_out(args.recipe)
    return args


def default_out(recipe: str) -> Path:
    """Where a run of ``recipe`` writes by default: a heavy run beside, not over, a light one's results."""
    out = Path(__file__).resolve().parent / "out"
    return out if recipe == "light" else out / recipe


def settings_from(args: argparse.Namespace) -> Settings:
    preset = QUICK if args.quick else FULL
    chosen = {name: getattr(args, name) if getattr(args, name) is not None else default
              for name, default in preset.items()}
    return Settings(image_size=args.image_size, workers=args.workers, seed=args.seed, **chosen)


def run(contenders: Sequence[Contender], settings: Settings, *, num_classes: int) -> tuple[
        dict[str, list[dict]], dict[str, dict], list[list[str]]]:
    """Warm up, check the outputs match, time the rounds; a progress bar on a terminal.

    Returns each contender's round records and output description, and the round orders."""
    from tqdm import tqdm

    per_contender = settings.repeats * (max(settings.warmup, 1) + settle_batches(settings.workers)
                                        + settings.batches)

    def check(outputs: dict[str, dict]) -> None:
        ceilings = {c.key for c in contenders if c.ceiling}
        check_fair({k: v for k, v in outputs.items() if k not in ceilings}, batch_size=settings.batch_size, image_size=settings.image_size,
                   num_classes=num_classes)

    with tqdm(total=per_contender * len(contenders), unit="batch", disable=None) as bar:
        rounds, orders, outputs = time_rounds(contenders, settings, progress=Progress(bar), check=check)
    return rounds, outputs, orders


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now().astimezone()
    settings = settings_from(args)
    try:
        data = resolve_data(args.data, cache=args.cache, quick=args.quick)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    backend = "torchvision" if torchvision_available() else "pillow"
    machine = describe_machine()
    contenders, skipped = build_contenders(data, settings, backend=backend, gpu=machine["gpu"] is not None,
                                           recipe=args.recipe)
    torch.manual_seed(settings.seed)
    rounds, outputs, orders = run(contenders, settings, num_classes=data.num_classes)
    report = build_report(
        contenders=contenders, skipped=skipped, rounds=rounds, outputs=outputs, orders=orders, settings=settings,
        data=data, backend=backend, machine=machine,
        started=started, argv=[Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)], recipe=args.recipe,
    )
    print(write_outputs(report, args.out))
    print(f"written: {args.out / 'results.json'}, {args.out / 'results.md'}, {args.out / 'throughput.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
