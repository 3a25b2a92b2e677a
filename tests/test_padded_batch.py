"""The padded last batch: DALI fills a shard's last batch with copies of its last sample; the
stage, told how many samples are real (``mix(samples=...)``), mixes real samples only with
real ones and leaves the padding alone. The pipelines give that count for every batch."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pytest
from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode

from _mixrun import DEVICES, Draws, class_ids, composed, inject, random_images, run_mix, smooth_one_hot
from dali_mixup import MixConfig, mix
from dali_mixup.schedule import RealSamples
from pipelines import open_source, train_pipeline
from pipelines.device import Runtime
from pipelines.spec import PipelineSpec
from pipelines.sources import Source

MODES = ["batch", "pair", "elem"]
LAST = float(np.nextafter(np.float32(1), np.float32(0)))  # the largest uniform draw below 1
BOTH = dict(mixup_alpha=1.0, cutmix_alpha=1.0, label_smoothing=0.1)


def assert_padding_untouched(r, images, real: int, config: MixConfig) -> None:
    """Samples from ``real`` on: own index, lam 1, no box, own pixels and target."""
    for i in range(real, len(images)):
        assert r.partner[i] == i and r.lam[i] == 1 and r.cutmix[i] == 0 and not r.box[i].any()
        np.testing.assert_array_equal(r.images[i], images[i].astype(np.float32))
        np.testing.assert_allclose(r.targets[i], smooth_one_hot(i, config), rtol=1e-6)


# ------------------------------------------------------------------ the stage, given the count


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("real", [6, 5, 1, 0], ids=["even", "odd", "one", "none"])
@pytest.mark.parametrize("mode", MODES)
def test_real_samples_mix_only_with_real_ones(mode, real, device) -> None:
    batch = 8
    config = MixConfig(**BOTH, mode=mode, num_classes=batch)
    images = random_images(batch, dtype=np.float32)
    partners = set()
    for r in run_mix(images, class_ids(batch), config, device=device, iterations=40, real=real):
        mixed = r.partner[:real] != np.arange(real)
        assert np.all(r.partner[:real] < real)
        if mode == "pair":
            expected = [real - 1 - i if 2 * i + 1 != real else i for i in range(real)]
            assert r.partner[:real].tolist() == expected
            np.testing.assert_array_equal(r.lam[:real], r.lam[:real][::-1])
            np.testing.assert_array_equal(r.box[:real], r.box[:real][::-1])
        elif real > 1:
            assert np.all(mixed), "prob 1: every real sample has another real partner"
        if mode == "batch" and mixed.any():
            assert len({tuple(b) for b in r.box[:real][mixed]}) == 1
        partners |= {(i, int(j)) for i, j in enumerate(r.partner[:real])}
        for i in range(real):
            j = int(r.partner[i])
            target = r.lam[i] * smooth_one_hot(i, config) + (1 - r.lam[i]) * smooth_one_hot(j, config)
            np.testing.assert_allclose(r.targets[i], target, rtol=1e-5, atol=1e-6)
        assert_padding_untouched(r, images, real, config)
    if mode != "pair" and real > 1:
        # Partners spread over every other real sample (the padding's draws fall back to them).
        assert partners == {(i, j) for i in range(real) for j in range(real) if i != j}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("samples", [8, 9, -1, 2**31 - 1], ids=["batch-size", "more", "minus-one", "huge"])
def test_a_count_outside_the_batch_means_all_are_real(mode, samples) -> None:
    """The same draws as without a count, on both paths: the same batch."""
    batch = 8
    config = MixConfig(**BOTH, mode=mode, num_classes=batch)
    images = random_images(batch)
    for device in ("cpu", "cpu-composed"):
        plain = run_mix(images, class_ids(batch), config, device=device, iterations=3, seed=5)
        counted = run_mix(images, class_ids(batch), config, device=device, iterations=3, seed=5,
                          real=samples)
        for a, b in zip(plain, counted):
            np.testing.assert_array_equal(a.images, b.images)
            np.testing.assert_array_equal(a.partner, b.partner)
            np.testing.assert_array_equal(a.lam, b.lam)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("real", [7, 4, 3, 1])
def test_both_paths_give_the_same_parameters(mode, real) -> None:
    """The stage's operator and DALI's operators follow one rule, fallback partners included."""
    batch = 9
    config = MixConfig(**BOTH, mode=mode, num_classes=batch, prob=0.8)
    images = random_images(batch)
    ours = run_mix(images, class_ids(batch), config, device="cpu", iterations=6, seed=11, real=real)
    dalis = run_mix(images, class_ids(batch), config, device="cpu-composed", iterations=6, seed=11,
                    real=real)
    for a, b in zip(ours, dalis):
        for name in ("partner", "cutmix", "box", "lam"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        np.testing.assert_allclose(a.targets, b.targets, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(a.images, b.images, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_a_partner_among_the_padding_falls_back_to_another_real_sample(monkeypatch, device) -> None:
    """g = perm[i]; where g >= R: (i + 1 + min(floor(f_i * (R - 1)), R - 2)) mod R, f_i the last
    of sample i's own uniform draws (float32 product)."""
    batch, real = 7, 4
    permutation = np.array([5, 6, 4, 0, 1, 2, 3], np.int32)
    fallback = np.array([0.0, 0.5, LAST, 0.9, 0.1, 0.2, 0.3], np.float32)
    uniform = np.zeros((batch, 2), np.float32)  # [apply (0: mixed), fallback]
    uniform[:, 1] = fallback
    inject(monkeypatch, Draws(uniform=uniform, permutation=permutation,
                              beta_mixup=np.full(batch, 0.25, np.float32)))
    config = MixConfig(mixup_alpha=1.0, mode="elem", num_classes=batch)
    (r,) = run_mix(random_images(batch), class_ids(batch), config, device=device, real=real)
    expected = []
    for i in range(real):
        g = int(permutation[i])
        if g >= real:
            step = min(int(np.floor(fallback[i] * np.float32(real - 1))), real - 2)
            g = (i + 1 + step) % real
        expected.append(g)
    assert expected == [1, 3, 1, 0]
    assert r.partner.tolist() == expected + [4, 5, 6]


@pytest.mark.parametrize("kind, error, message", [
    ("int", TypeError, r"^mix: samples: expected None or a CPU DataNode \(an integer scalar per "
                       r"sample\), got int$"),
    ("gpu", ValueError, r"^mix: samples: expected a CPU DataNode \(an integer scalar per sample\), "
                        r"got a GPU one$"),
])
def test_samples_must_be_a_cpu_data_node(kind, error, message) -> None:
    from nvidia.dali import pipeline_def

    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def define():
        x = fn.external_source(source=lambda: random_images(2), batch=True, layout="HWC")
        y = fn.external_source(source=lambda: class_ids(2), batch=True)
        count = fn.external_source(source=lambda: [np.int32(1)] * 2, batch=True)
        return mix(x, y, MixConfig(num_classes=2), samples=3 if kind == "int" else count.gpu())

    with pytest.raises(error, match=message):
        define()


# ------------------------------------------------------------------ the count, from the pipelines


def test_real_samples_counts_each_iteration_of_each_epoch() -> None:
    counts = RealSamples(shard_size=11, batch_size=4, iters_per_epoch=3)
    assert [counts.count(k) for k in range(7)] == [4, 4, 3, 4, 4, 3, 4]
    assert counts.padded
    smaller = RealSamples(shard_size=4, batch_size=4, iters_per_epoch=2)  # 9 samples, 2 shards
    assert [smaller.count(k) for k in range(4)] == [4, 0, 4, 0]
    assert not RealSamples(shard_size=8, batch_size=4, iters_per_epoch=2).padded
    with pytest.raises(ValueError, match=r"RealSamples: shard_size=9: expected 1 to iters_per_epoch "
                                         r"\* batch_size = 8"):
        RealSamples(shard_size=9, batch_size=4, iters_per_epoch=2)


@dataclass(frozen=True)
class PartnerGraph:
    """Reads, decodes and mixes as the training graph does, and hands out what the test
    needs: the class ids (one per sample: they tell the padding apart), the partners and
    the count given to the stage."""

    mix: MixConfig

    def define(self, prob: DataNode | None, *, samples: DataNode | None, source: Source,
               runtime: Runtime, reader_name: str):
        encoded, labels = source.read(name=reader_name, shard_id=runtime.shard_id,
                                      num_shards=runtime.num_shards, shuffle_seed=runtime.reader_seed)
        images = fn.resize(fn.decoders.image(encoded), size=(8, 8))
        _, _, params = mix(images, labels, self.mix, layout="HWC", samples=samples, return_params=True)
        count = samples if samples is not None else fn.cast(labels[0] * 0 - 1, dtype=types.INT32)
        return labels, params.partner, count


def spec(path, *, shard_id: int, num_shards: int, batch_size: int, config: MixConfig) -> PipelineSpec:
    runtime = Runtime(batch_size=batch_size, num_threads=1, device="cpu", device_id=None, seed=3,
                      shard_id=shard_id, num_shards=num_shards)
    return PipelineSpec(graph=PartnerGraph(config), runtime=runtime, source=open_source(path),
                        layout="NCHW", mix=config)


@pytest.mark.parametrize("device", ["cpu", "cpu-composed"])
@pytest.mark.parametrize("n, num_shards, batch_size, mode", [
    (10, 1, 4, "elem"),  # last batch of 2: even
    (11, 1, 4, "batch"),  # of 3: odd
    (9, 1, 4, "elem"),  # of 1
    (23, 2, 4, "elem"),  # shards of 11 and 12: the first pads 1, the second nothing
    (9, 2, 4, "batch"),  # shards of 4 and 5: the first pads a whole batch
    (11, 1, 4, "pair"),
    (13, 2, 4, "pair"),  # shards of 6 and 7
], ids=["even", "odd", "one", "two-shards", "whole-batch-padding", "pair", "pair-two-shards"])
def test_in_the_last_batch_every_real_samples_partner_is_real(make_file_list, device, n, num_shards,
                                                               batch_size, mode) -> None:
    path = make_file_list(n, size=(6, 6))
    config = MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mode=mode, num_classes=n)
    padded_batches = 0
    for shard_id in range(num_shards):
        s = spec(path, shard_id=shard_id, num_shards=num_shards, batch_size=batch_size, config=config)
        assert s.samples_in_shard == (shard_id + 1) * n // num_shards - shard_id * n // num_shards
        with composed() if device == "cpu-composed" else contextlib.nullcontext():
            pipe = s.pipeline()
        pipe.build()
        read: list[int] = []
        for iteration in range(3 * s.iters_per_epoch):  # three epochs
            labels, partner, count = (np.array(o.as_tensor()).ravel() for o in pipe.run())
            if s.real_samples is None:
                assert count.tolist() == [-1] * batch_size  # no count: every batch is full
                real = batch_size
            else:
                real = int(count[0])
            # The count is DALI's: the samples before it are read once an epoch, the rest
            # are copies of the last one.
            read += labels[:real].tolist()
            if real < batch_size:
                padded_batches += 1
                if real:
                    assert np.all(labels[real:] == labels[real - 1])
            if iteration % s.iters_per_epoch == s.iters_per_epoch - 1:
                assert len(read) == len(set(read)) == s.samples_in_shard
                read = []
            assert np.all(partner[:real] < real), (iteration, labels, partner, real)
            assert np.all(partner[real:] == np.arange(real, batch_size))
            if mode == "pair":
                assert partner[:real].tolist() == [real - 1 - i if 2 * i + 1 != real else i
                                                   for i in range(real)]
            elif real > 1:
                assert np.all(partner[:real] != np.arange(real))
    assert padded_batches > 0


def test_no_count_where_every_batch_is_full(make_file_list) -> None:
    """Full batches on every shard, or no mixing: no external source runs per batch for it."""
    path = make_file_list(8)
    config = MixConfig(num_classes=8)
    assert spec(path, shard_id=0, num_shards=2, batch_size=4, config=config).real_samples is None
    assert spec(path, shard_id=0, num_shards=1, batch_size=3, config=config).real_samples is not None
    assert train_pipeline(path, batch_size=3, image_size=8, num_shards=1, shard_id=0).real_samples is None
