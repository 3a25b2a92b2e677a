"""The random draws of the auto-augment policies and colour jitter, by distribution, against timm's
and torchvision's definitions: which operations, how often, how strong, in which order."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
from nvidia.dali import pipeline_def
from scipy import stats

from dali_mixup.augment import Augmentation, ColorJitter, draws
from dali_mixup.augment_ops import Op
from dali_mixup.policy import SIGNED, TRIVIAL_BINS, TRIVIAL_OPS, parse_auto_augment, trivial_parameter

BATCH = 256


def sample(augmentation: Augmentation, *, batches: int = 8, seed: int = 3) -> tuple[np.ndarray, ...]:
    """(ops, levels, filters), each (batches * BATCH, K)."""
    @pipeline_def(batch_size=BATCH, num_threads=1, device_id=None, seed=seed)
    def pipe():
        return draws(augmentation)

    p = pipe()
    p.build()
    out = [[], [], []]
    for _ in range(batches):
        for k, tensors in enumerate(p.run()):
            out[k].extend(np.array(t) for t in tensors)
    return tuple(np.stack(o) for o in out)


def rand(text: str, interpolation: str = "random") -> Augmentation:
    return Augmentation(policy=parse_auto_augment(text), interpolation=interpolation)


def test_randaugment_choice_chance_and_filters() -> None:
    policy = parse_auto_augment("rand-m9-mstd0.5-inc1")
    ops, levels, filters = sample(rand("rand-m9-mstd0.5-inc1"))
    assert ops.shape == levels.shape == filters.shape == (8 * BATCH, 2)
    assert ops.dtype == np.int32 and levels.dtype == np.float32 and filters.dtype == np.int32
    applied = ops[ops != 0]
    # Each operation applies with chance p = 0.5 (timm's default), each layer on its own.
    assert stats.binomtest(applied.size, ops.size, 0.5).pvalue > 1e-3
    # Uniform over the 15 operations, with replacement (two layers may draw the same one).
    counts = Counter(applied.tolist())
    assert set(counts) == {int(op) for op in policy.ops}
    assert stats.chisquare([counts[int(op)] for op in policy.ops]).pvalue > 1e-3
    both = ops.min(axis=1) > 0
    assert (ops[both, 0] == ops[both, 1]).mean() == pytest.approx(1 / 15, abs=0.03)
    # "random" interpolation: bilinear or bicubic with even odds, per operation.
    assert set(np.unique(filters)) == {0, 1}
    assert stats.binomtest(int(filters.sum()), filters.size, 0.5).pvalue > 1e-3


def test_randaugment_magnitude_noise_and_sign() -> None:
    """mstd0.5: |level| ~ Normal(9, 0.5) clipped to [0, 10]; the sign is a fair coin."""
    _, levels, _ = sample(rand("rand-m9-mstd0.5-inc1"))
    magnitude = np.abs(levels).ravel()
    assert magnitude.max() <= 10.0 and magnitude.min() >= 0.0
    inside = magnitude[magnitude < 10.0]
    assert stats.kstest(inside, stats.truncnorm(-np.inf, (10 - 9) / 0.5, loc=9, scale=0.5).cdf).pvalue > 1e-3
    clipped = stats.norm(9, 0.5).sf(10)  # the share timm clips to 10
    assert stats.binomtest(int((magnitude == 10).sum()), magnitude.size, clipped).pvalue > 1e-3
    assert stats.binomtest(int((levels > 0).sum()), levels.size, 0.5).pvalue > 1e-3


@pytest.mark.parametrize("text, check", [
    ("rand-m9", lambda m: np.all(m == 9.0)),
    ("rand-m7-mstd101", lambda m: m.max() <= 7 and stats.kstest(m, stats.uniform(0, 7).cdf).pvalue > 1e-3),
    ("rand-m12-mmax14-mstd2", lambda m: m.max() <= 14 and stats.kstest(
        m[m < 14], stats.truncnorm(-6, 1, loc=12, scale=2).cdf).pvalue > 1e-3),
])
def test_randaugment_magnitudes(text, check) -> None:
    _, levels, _ = sample(rand(text), batches=4)
    assert check(np.abs(levels).ravel())


def test_randaugment_n_and_p() -> None:
    ops, _, filters = sample(rand("rand-n3-p0.8-m5", interpolation="bicubic"), batches=4)
    assert ops.shape[1] == 3
    assert stats.binomtest(int((ops != 0).sum()), ops.size, 0.8).pvalue > 1e-3
    assert np.all(filters == 1)
    ops, _, _ = sample(rand("rand-p1.0"), batches=1)
    assert np.all(ops != 0)


@pytest.mark.parametrize("name", ["original", "v0r"])
def test_autoaugment_sub_policies(name) -> None:
    """Each step's operation appears with chance sum over sub-policies of P(step) / 25, at the
    sub-policy's magnitude (no noise: exactly), signed where timm negates."""
    policy = parse_auto_augment(name)
    ops, levels, _ = sample(Augmentation(policy=policy), batches=8)
    for step in range(2):
        expected = Counter()
        magnitudes = {}
        for sub in policy.sub_policies:
            op, p, m = sub[step]
            expected[int(op)] += p / len(policy.sub_policies)
            magnitudes.setdefault(int(op), set()).add(m)
        expected[0] = 1 - sum(expected.values())
        seen = Counter(ops[:, step].tolist())
        keys = sorted(expected)
        observed = [seen[k] for k in keys]
        assert set(seen) <= set(keys)
        assert stats.chisquare(observed, [expected[k] * len(ops) for k in keys]).pvalue > 1e-4
        for code in set(seen) - {0}:
            got = set(np.abs(levels[ops[:, step] == code, step]).tolist())
            assert got <= magnitudes[code], (Op(code), got)
            signs = levels[ops[:, step] == code, step]
            if Op(code) in SIGNED and np.any(signs != 0):
                assert np.any(signs < 0) and np.any(signs > 0)
            else:
                assert np.all(signs >= 0)


def test_autoaugment_pairs_come_from_one_sub_policy() -> None:
    policy = parse_auto_augment("v0")
    ops, _, _ = sample(Augmentation(policy=policy), batches=2)
    pairs = {(int(a), int(b)) for (a, _, _), (b, _, _) in policy.sub_policies}
    both = ops.min(axis=1) > 0
    assert {tuple(row) for row in ops[both].tolist()} <= pairs


def test_autoaugment_magnitude_noise() -> None:
    ops, levels, _ = sample(Augmentation(policy=parse_auto_augment("original-mstd0.5")), batches=4)
    rotate = np.abs(levels[ops == Op.ROTATE])  # Rotate's magnitudes in "original": 9, 8, 3
    assert rotate.max() <= 10 and len(np.unique(rotate)) > 100


def test_trivial_augment() -> None:
    ops, levels, filters = sample(Augmentation(policy=parse_auto_augment("ta_wide"), interpolation="bilinear"))
    assert ops.shape == (8 * BATCH, 1) and np.all(filters == 0)
    counts = Counter(ops[:, 0].tolist())
    codes = [int(op) for op, _, _ in TRIVIAL_OPS]
    assert set(counts) == set(codes)
    assert stats.chisquare([counts[c] for c in codes]).pvalue > 1e-3
    for op, top, signed in TRIVIAL_OPS:
        chosen = levels[ops[:, 0] == op, 0]
        table = np.array([trivial_parameter(op, top, i) for i in range(TRIVIAL_BINS)], dtype=np.float32)
        if op in (Op.BRIGHTNESS_FACTOR, Op.COLOR_FACTOR, Op.CONTRAST_FACTOR, Op.SHARPNESS_FACTOR):
            magnitude = np.abs(chosen - np.float32(1.0))
            assert np.all(np.isin(chosen, np.concatenate([1 + table, 1 - table]).astype(np.float32)))
        else:
            magnitude = np.abs(chosen)
            assert np.all(np.isin(magnitude, np.abs(table))), op
        if signed and top:
            assert np.any(chosen < (1 if op in _FACTORS else 0)) and np.any(chosen > (1 if op in _FACTORS else 0))
        if op is Op.ROTATE_DEGREES:  # the bin: uniform over 31
            bins = np.rint(magnitude / (135 / 30)).astype(int)
            assert stats.chisquare(np.bincount(bins, minlength=31)).pvalue > 1e-4


_FACTORS = (Op.BRIGHTNESS_FACTOR, Op.COLOR_FACTOR, Op.CONTRAST_FACTOR, Op.SHARPNESS_FACTOR)


def test_color_jitter_as_torchvision() -> None:
    """ColorJitter(0.4, 0.4, 0.4, 0.1): factors uniform in [0.6, 1.4], hue in [-0.1, 0.1], the four
    in one of 24 orders with equal chance."""
    ops, levels, _ = sample(Augmentation(jitter=ColorJitter.from_timm((0.4, 0.4, 0.4, 0.1))))
    jitter_ops = [Op.BRIGHTNESS_FACTOR, Op.CONTRAST_FACTOR, Op.COLOR_FACTOR, Op.HUE]
    assert np.all(np.sort(ops, axis=1) == sorted(int(op) for op in jitter_ops))
    for op in jitter_ops:
        values = levels[ops == op]
        low, high = (-0.1, 0.1) if op is Op.HUE else (0.6, 1.4)
        assert stats.kstest(values, stats.uniform(low, high - low).cdf).pvalue > 1e-3
    orders = Counter(tuple(row) for row in ops.tolist())
    assert len(orders) == 24 and stats.chisquare(list(orders.values())).pvalue > 1e-3


def test_color_jitter_scalar_leaves_out_hue() -> None:
    """timm's 0.4: brightness, contrast, saturation; no hue (an identity step)."""
    ops, levels, _ = sample(Augmentation(jitter=ColorJitter.from_timm(0.4)), batches=2)
    assert np.all((ops == 0).sum(axis=1) == 1) and not np.any(ops == Op.HUE)
    assert levels[ops != 0].min() >= 0.6 and levels[ops != 0].max() <= 1.4


def test_same_seed_same_draws_other_seed_others() -> None:
    augmentation = rand("rand-m9-mstd0.5-inc1")
    first, again = sample(augmentation, batches=1, seed=5), sample(augmentation, batches=1, seed=5)
    other = sample(augmentation, batches=1, seed=6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize("value, message", [
    (-0.1, "expected a float >= 0"), ((0.4, 0.4), "or a tuple of 3"), ((0.4,) * 5, "or a tuple of 3"),
    ((0.4, 0.4, 0.4, 0.6), "the hue (4th value) must be in [0, 0.5]"), ("0.4", "expected a float"),
    (math.nan, "expected a float"), (True, "expected a float"),
])
def test_color_jitter_refused(value, message) -> None:
    with pytest.raises(ValueError, match="color_jitter") as error:
        ColorJitter.from_timm(value)
    assert message in str(error.value)


def test_jitter_with_policy_refused() -> None:
    with pytest.raises(ValueError, match="color_jitter: timm applies no colour jitter together"):
        Augmentation(policy=parse_auto_augment("rand-m9"), jitter=ColorJitter.from_timm(0.4))


def test_orders_table_is_every_permutation() -> None:
    from dali_mixup.augment import _ORDERS

    assert sorted(_ORDERS) == sorted(itertools.permutations(range(4)))
