"""Distributions, identities, determinism, batch sizes and the run-time switch of the stage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from _mixrun import class_ids, random_images, run_mix, smooth_one_hot
from dali_mixup import MixConfig


def _lams(config: MixConfig, batch: int = 128, iterations: int = 8) -> np.ndarray:
    runs = run_mix(random_images(batch, shape=(4, 4, 1)), class_ids(batch), config,
                   iterations=iterations)
    return np.concatenate([r.lam for r in runs])


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.0])
def test_mixup_lambda_follows_beta_alpha_alpha(alpha):
    config = MixConfig(mixup_alpha=alpha, mode="elem", num_classes=128)
    lam = _lams(config)
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 0.01
    # The test has the power to see a wrong alpha.
    assert stats.kstest(lam, stats.beta(alpha * 2, alpha * 2).cdf).pvalue < 1e-4


def test_batch_mode_draws_one_lambda_per_batch_from_beta():
    config = MixConfig(mixup_alpha=0.4, num_classes=16)
    runs = run_mix(random_images(16, shape=(4, 4, 1)), class_ids(16), config, iterations=300)
    lam = np.array([r.lam[0] for r in runs])
    assert all(np.all(r.lam == r.lam[0]) for r in runs)
    assert stats.kstest(lam, stats.beta(0.4, 0.4).cdf).pvalue > 0.01


@pytest.mark.parametrize("switch_prob", [0.0, 0.3, 1.0])
def test_cutmix_is_chosen_with_switch_prob(switch_prob):
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, switch_prob=switch_prob, mode="elem",
                       num_classes=128)
    runs = run_mix(random_images(128, shape=(8, 8, 1)), class_ids(128), config, iterations=8)
    chosen = np.concatenate([r.cutmix for r in runs])
    result = stats.binomtest(int(chosen.sum()), chosen.size, switch_prob)
    assert result.pvalue > 0.01


@pytest.mark.parametrize("prob", [0.25, 0.75])
def test_mixing_applies_with_prob(prob):
    config = MixConfig(mixup_alpha=1.0, mode="elem", prob=prob, num_classes=128)
    runs = run_mix(random_images(128, shape=(4, 4, 1)), class_ids(128), config, iterations=8)
    mixed = np.concatenate([r.partner != np.arange(128) for r in runs])
    assert stats.binomtest(int(mixed.sum()), mixed.size, prob).pvalue > 0.01


def _assert_identity(r, images, labels, config):
    np.testing.assert_array_equal(r.images, np.stack(images).astype(np.float32))
    expected = np.stack([smooth_one_hot(int(y[0]), config) for y in labels])
    np.testing.assert_allclose(r.targets, expected, rtol=1e-6)
    np.testing.assert_array_equal(r.partner, np.arange(len(images)))
    assert np.all(r.lam == 1.0)


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
def test_prob_zero_is_the_identity_bit_for_bit(mode):
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, prob=0.0, mode=mode, num_classes=8)
    images, labels = random_images(8, dtype=np.float32), class_ids(8)
    for r in run_mix(images, labels, config, iterations=3):
        _assert_identity(r, images, labels, config)


def test_mixing_switches_off_and_on_between_iterations_without_rebuilding():
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, num_classes=6)
    images, labels = random_images(6), class_ids(6)
    schedule = [1.0, 0.0, 0.0, 1.0, 1.0]
    runs = run_mix(images, labels, config, iterations=len(schedule),
                   prob_per_iteration=lambda k: schedule[k])
    for prob, r in zip(schedule, runs):
        if prob == 0.0:
            _assert_identity(r, images, labels, config)
        else:
            assert np.all(r.partner != np.arange(6)), "prob 1: every sample has a partner"


def test_same_seed_same_batches_and_other_seed_other_batches():
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mode="elem", num_classes=10)
    images, labels = random_images(10), class_ids(10)
    first = run_mix(images, labels, config, iterations=3, seed=123)
    again = run_mix(images, labels, config, iterations=3, seed=123, pipeline_seed=99)
    other = run_mix(images, labels, config, iterations=3, seed=124)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.targets, b.targets)
    assert not all(np.array_equal(a.images, c.images) for a, c in zip(first, other))
    # Without an explicit seed, the pipeline's seed decides.
    by_pipeline = run_mix(images, labels, config, iterations=2, pipeline_seed=5)
    by_pipeline_again = run_mix(images, labels, config, iterations=2, pipeline_seed=5)
    for a, b in zip(by_pipeline, by_pipeline_again):
        np.testing.assert_array_equal(a.images, b.images)


def test_random_operators_are_independent():
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem", num_classes=64)
    r = run_mix(random_images(64, shape=(32, 32, 1)), class_ids(64), config)[0]
    top, left = r.box[:, 0], r.box[:, 1]
    assert not np.array_equal(top, left), "box rows and columns need their own draws"


def test_batch_of_one_passes_through_unmixed():
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, num_classes=3)
    images, labels = random_images(1), [np.array([2], dtype=np.int32)]
    for r in run_mix(images, labels, config, iterations=3):
        _assert_identity(r, images, labels, config)


@pytest.mark.parametrize("mode", ["batch", "elem"])
@pytest.mark.parametrize("batch", [2, 3, 5])
def test_odd_and_small_batches_give_every_sample_another_partner(mode, batch):
    config = MixConfig(mixup_alpha=1.0, mode=mode, num_classes=5)
    for r in run_mix(random_images(batch), class_ids(batch), config, iterations=4):
        assert sorted(r.partner) == list(range(batch)), "partners form a permutation"
        assert np.all(r.partner != np.arange(batch))


def test_pair_mode_with_an_odd_batch_leaves_the_middle_sample_unmixed():
    config = MixConfig(mixup_alpha=1.0, mode="pair", num_classes=5)
    images = random_images(5)
    r = run_mix(images, class_ids(5), config)[0]
    assert list(r.partner) == [4, 3, 2, 1, 0]
    assert r.lam[2] == 1.0
    np.testing.assert_array_equal(r.images[2], images[2].astype(np.float32))
