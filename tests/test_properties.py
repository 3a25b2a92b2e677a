"""Arguments, property-based: every invalid value is refused with a ValueError or TypeError
naming the argument, before any data is read; every valid combination builds and runs."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from _mixrun import random_images, run_mix
from conftest import encode, random_pixels
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dali_mixup import DALILoader, MixConfig
from pipelines import train_pipeline, val_pipeline
from pipelines.blobs import Blob

EXAMPLES = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
NUM_SAMPLES, NUM_CLASSES = 6, 3

# Values that are not numbers at all, for any numeric argument.
NOT_NUMBERS = st.none() | st.booleans() | st.text(max_size=3) | st.lists(st.integers(), max_size=2)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
NEGATIVE = st.floats(max_value=0, exclude_max=True, allow_infinity=False)


def probability() -> st.SearchStrategy[float]:
    return st.floats(0, 1)


def outside(low: float, high: float, *, include_low: bool = True,
            include_high: bool = True) -> st.SearchStrategy[float]:
    """Finite floats outside the interval from ``low`` to ``high``, or not finite."""
    below = st.floats(max_value=low, exclude_max=include_low, allow_nan=False, allow_infinity=False)
    above = st.floats(min_value=high, exclude_min=include_high, allow_nan=False, allow_infinity=False)
    return below | above | NON_FINITE


def pairs(low: float, high: float) -> st.SearchStrategy[tuple[float, float]]:
    """(lo, hi) with low < lo <= hi <= high."""
    return st.floats(low, high, exclude_min=True).flatmap(
        lambda lo: st.tuples(st.just(lo), st.floats(lo, high)))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A file list of NUM_SAMPLES 12 x 16 PNGs in NUM_CLASSES classes."""
    root = tmp_path_factory.mktemp("data")
    lines = []
    for i in range(NUM_SAMPLES):
        (root / f"{i}.png").write_bytes(encode(random_pixels(i, (12, 16)), "png"))
        lines.append(f"{i}.png {i % NUM_CLASSES}\n")
    (root / "list.txt").write_text("".join(lines))
    return root / "list.txt"


# ------------------------------------------------------------------ MixConfig


def mix_configs(*, num_classes: st.SearchStrategy[int] = st.integers(1, 12)) -> st.SearchStrategy[MixConfig]:
    alpha = st.just(0.0) | st.floats(1.2e-38, 4) | st.integers(0, 4)
    minmax = st.none() | st.floats(0.05, 0.9).flatmap(
        lambda lo: st.tuples(st.just(lo), st.floats(lo, 1, exclude_min=True)))
    return st.builds(
        lambda **kw: kw, mixup_alpha=alpha, cutmix_alpha=alpha, cutmix_minmax=minmax, prob=probability(),
        switch_prob=probability(), mode=st.sampled_from(["batch", "pair", "elem"]), correct_lam=st.booleans(),
        label_smoothing=st.floats(0, 1, exclude_max=True), num_classes=num_classes,
    ).filter(lambda kw: kw["mixup_alpha"] or kw["cutmix_alpha"] or kw["cutmix_minmax"]).map(
        lambda kw: MixConfig(**kw))


@EXAMPLES
@given(config=mix_configs(), batch_size=st.integers(1, 4))
def test_every_valid_mix_config_mixes(config: MixConfig, batch_size: int) -> None:
    labels = [np.array([i % config.num_classes], np.int32) for i in range(batch_size)]
    (out,) = run_mix(random_images(batch_size, shape=(6, 8, 3)), labels, config)
    assert out.images.shape == (batch_size, 6, 8, 3) and np.isfinite(out.images).all()
    assert out.targets.shape == (batch_size, config.num_classes)
    np.testing.assert_allclose(out.targets.sum(axis=1), 1, atol=1e-5)
    assert ((out.lam >= 0) & (out.lam <= 1)).all()


INVALID_MIX = {
    "mixup_alpha": NEGATIVE | NON_FINITE | NOT_NUMBERS | st.floats(1e-300, 1e-39),
    "cutmix_alpha": NEGATIVE | NON_FINITE | NOT_NUMBERS | st.floats(3.5e38, 1e300),
    "cutmix_minmax": st.tuples(st.floats(), st.floats()).filter(lambda p: not 0 < p[0] < p[1] <= 1)
    | st.tuples(st.floats(0.1, 0.5)) | st.text(max_size=3) | st.just((True, 0.5)),
    "prob": outside(0, 1) | NOT_NUMBERS,
    "switch_prob": outside(0, 1) | NOT_NUMBERS,
    "mode": st.text(max_size=6).filter(lambda m: m not in ("batch", "pair", "elem")) | st.integers()
    | st.lists(st.just("batch"), max_size=1),
    "correct_lam": st.integers() | st.none() | st.text(max_size=3),
    "label_smoothing": outside(0, 1, include_high=False) | NOT_NUMBERS,
    "num_classes": st.integers(max_value=0) | st.floats() | st.booleans() | st.text(max_size=3),
}


@pytest.mark.parametrize("field", sorted(INVALID_MIX))
@EXAMPLES
@given(draw=st.data())
def test_every_invalid_mix_config_value_is_named(field: str, draw) -> None:
    value = draw.draw(INVALID_MIX[field], label=field)
    with pytest.raises((ValueError, TypeError), match=rf"^MixConfig\.{field}: expected "):
        MixConfig(**{"mixup_alpha": 1.0, field: value})


# ------------------------------------------------------------------ the factories


COMMON_VALID = {
    "batch_size": st.integers(1, 8),
    "image_size": st.integers(1, 24),
    "mean": st.tuples(*[st.floats(-2, 2)] * 3),
    "std": st.tuples(*[st.floats(0.01, 4)] * 3),
    "layout": st.sampled_from(["NCHW", "NHWC"]),
    "dtype": st.sampled_from(["float32", "float16"]),
    "num_threads": st.integers(1, 3),
    "device": st.sampled_from([None, "cpu"]),
    "hw_decoder_load": probability(),
    "skip_bad_files": st.booleans(),
}
TRAIN_VALID = COMMON_VALID | {
    "scale": pairs(0, 1),
    "ratio": pairs(0, 8).filter(lambda p: p[0] >= 1 / 8),
    "hflip": probability(),
    "seed": st.integers(0, 2**40),
    "mix": st.none() | mix_configs(num_classes=st.integers(NUM_CLASSES, 8)),
}
VAL_VALID = COMMON_VALID | {"crop_pct": st.floats(0.3, 1)}


@st.composite
def shards(draw) -> dict[str, int]:
    num_shards = draw(st.integers(1, NUM_SAMPLES))
    return {"num_shards": num_shards, "shard_id": draw(st.integers(0, num_shards - 1))}


@EXAMPLES
@given(kind=st.sampled_from(["train", "val"]), draw=st.data())
def test_every_valid_argument_set_builds_and_runs(data: Path, kind: str, draw) -> None:
    args = draw.draw(st.fixed_dictionaries(TRAIN_VALID if kind == "train" else VAL_VALID), label="args")
    args |= draw.draw(shards(), label="shards")
    factory = train_pipeline if kind == "train" else val_pipeline
    loader = DALILoader(factory(data, **args))

    images, targets = next(iter(loader))
    shard, count = args["shard_id"], args["num_shards"]  # DALI's split: floor(N * k / count)
    shard_size = NUM_SAMPLES * (shard + 1) // count - NUM_SAMPLES * shard // count
    n, size = min(args["batch_size"], shard_size), args["image_size"]
    assert images.shape == (n, 3, size, size) and images.dtype == getattr(torch, args["dtype"])
    assert torch.isfinite(images.float()).all()
    mix = args.get("mix")
    assert targets.shape == ((n, mix.num_classes) if mix else (n,))


INVALID_COMMON = {
    "batch_size": st.integers(max_value=0) | NOT_NUMBERS | st.floats(),
    "image_size": st.integers(max_value=0) | NOT_NUMBERS | st.floats(),
    "mean": st.lists(st.floats(-1, 1), max_size=5).filter(lambda m: len(m) != 3)
    | st.tuples(NON_FINITE, st.just(0.5), st.just(0.5)) | st.text(max_size=3) | st.none(),
    "std": st.tuples(st.floats(max_value=0), st.just(0.5), st.just(0.5))
    | st.lists(st.floats(0.1, 1), max_size=2) | st.none(),
    "layout": st.text(max_size=5).filter(lambda v: v not in ("NCHW", "NHWC")) | st.none() | st.integers()
    | st.lists(st.just("NCHW"), max_size=1),
    "dtype": st.text(max_size=8).filter(lambda v: v not in ("float32", "float16")) | st.none()
    | st.lists(st.just("float32"), max_size=1),
    "num_threads": st.integers(max_value=0) | st.floats() | st.booleans() | st.text(max_size=2),
    "device": st.text(max_size=4).filter(lambda v: v not in ("cpu", "gpu")) | st.integers(),
    "hw_decoder_load": outside(0, 1) | NOT_NUMBERS,
    "shard_id": st.integers(max_value=-1) | st.integers(2, 50) | st.floats() | st.booleans(),
    "num_shards": st.integers(max_value=0) | st.integers(NUM_SAMPLES + 1, 1000) | st.floats() | st.booleans(),
    "skip_bad_files": st.integers() | st.none() | st.text(max_size=3),
}
INVALID_TRAIN = INVALID_COMMON | {
    "scale": st.tuples(st.floats(), st.floats()).filter(lambda p: not 0 < p[0] <= p[1] <= 1)
    | st.tuples(st.floats(0.1, 1)) | st.text(max_size=2),
    "ratio": st.tuples(st.floats(), st.floats()).filter(lambda p: not 0 < p[0] <= p[1] < math.inf)
    | st.none(),
    "hflip": outside(0, 1) | NOT_NUMBERS,
    "seed": st.integers(max_value=-1) | st.floats() | st.booleans() | st.text(max_size=2),
    "mix": st.just(MixConfig(num_classes=NUM_CLASSES - 1)) | st.dictionaries(st.text(max_size=2), st.floats())
    | st.integers(),
}
INVALID_VAL = INVALID_COMMON | {"crop_pct": outside(0, 1, include_low=False) | NOT_NUMBERS}


@pytest.mark.parametrize("kind, name", [("train", name) for name in sorted(INVALID_TRAIN)]
                         + [("val", name) for name in sorted(INVALID_VAL)])
@EXAMPLES
@given(draw=st.data())
def test_every_invalid_argument_is_named(data: Path, kind: str, name: str, draw) -> None:
    value = draw.draw((INVALID_TRAIN if kind == "train" else INVALID_VAL)[name], label=name)
    args = {"batch_size": 2, "shard_id": 0, "num_shards": 2} | {name: value}
    factory = train_pipeline if kind == "train" else val_pipeline
    with pytest.raises((ValueError, TypeError)) as info:
        factory(data, **args)
    assert re.search(rf"\b{name}\b", str(info.value)), str(info.value)


# ------------------------------------------------------------------ shards, before any reading


@pytest.mark.parametrize("shard_id, num_shards, message", [
    (-1, 2, r"shard_id: expected an integer in \[0, num_shards=2\), got -1"),
    (2, 2, r"shard_id: expected an integer in \[0, num_shards=2\), got 2"),
    (0, 0, r"num_shards: expected an integer >= 1, got 0"),
])
def test_shard_arguments_are_refused_before_the_data_is_opened(tmp_path: Path, shard_id, num_shards,
                                                               message) -> None:
    for factory in (train_pipeline, val_pipeline):
        with pytest.raises(ValueError, match=message):  # not: the data set does not exist
            factory(tmp_path / "nowhere", batch_size=2, shard_id=shard_id, num_shards=num_shards)


def test_shards_from_the_environment_say_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "4")
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ValueError, match=r"shard_id \(from RANK\): expected an integer in \[0, num_shards=4\), "
                                         r"got 4"):
        train_pipeline(tmp_path / "nowhere", batch_size=2)


def test_more_shards_than_samples_is_refused_before_any_image_is_read(data: Path, monkeypatch) -> None:
    def no_reading(self):
        raise AssertionError(f"read {self}")

    monkeypatch.setattr(Blob, "problem", no_reading)
    with pytest.raises(ValueError, match=rf"num_shards=7 is more than the {NUM_SAMPLES} samples of the "
                                         "data set: every shard needs at least one"):
        train_pipeline(data, batch_size=2, num_shards=7, shard_id=0)
