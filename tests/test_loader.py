"""DALILoader: epochs, the last batch, mixing off from an epoch on, exact resume, the batches
handed to torch (no copy, kept ones unchanged)."""

from __future__ import annotations

import gc
import io
import subprocess
import sys
from pathlib import Path

import nvidia.dali.plugin.pytorch as dali_torch
import pytest
import torch

from dali_mixup import DALILoader, MixConfig, MixInputError
from pipelines import file_list, train_pipeline, val_pipeline

MIXUP = MixConfig(mixup_alpha=1.0, cutmix_alpha=0.0, label_smoothing=0.0, num_classes=16)
BOTH = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=16)


def epoch_labels(loader: DALILoader) -> list[int]:
    return [label for _, labels in loader for label in labels.tolist()]


def mixed_rows(targets: torch.Tensor) -> torch.Tensor:
    """Which rows mix two classes (no smoothing: a pure row is exactly one-hot)."""
    return targets.max(dim=1).values < 1


@pytest.mark.parametrize("n, batch_size, drop_last, sizes", [
    (11, 4, False, [4, 4, 3]),
    (11, 4, True, [4, 4]),
    (8, 4, False, [4, 4]),
    (3, 4, False, [3]),
])
def test_len_and_batch_sizes(make_file_list, n, batch_size, drop_last, sizes) -> None:
    loader = DALILoader(train_pipeline(make_file_list(n), batch_size=batch_size, image_size=8),
                        drop_last=drop_last)
    assert len(loader) == len(sizes)
    for _ in range(2):
        assert [len(labels) for _, labels in loader] == sizes


def test_train_reads_every_sample_once_per_epoch_in_a_new_order(make_file_list) -> None:
    loader = DALILoader(train_pipeline(make_file_list(11), batch_size=4, image_size=8, seed=1))
    epochs = [epoch_labels(loader) for _ in range(3)]
    assert all(sorted(labels) == list(range(11)) for labels in epochs)
    assert len({tuple(labels) for labels in epochs}) == 3
    assert loader.epoch == 3


@pytest.mark.parametrize("kind", ["file_list", "webdataset"])
@pytest.mark.parametrize("make_pipeline", [train_pipeline, val_pipeline])
def test_shards_are_disjoint_and_cover_every_epoch(make_file_list, make_webdataset, kind,
                                                   make_pipeline) -> None:
    # 23 samples in shards of 12 and 11 (webdataset: in 3 tar files of up to 8).
    path = make_file_list(23) if kind == "file_list" else make_webdataset(23, shards=3)
    loaders = [DALILoader(make_pipeline(path, batch_size=4, image_size=8, shard_id=rank, num_shards=2))
               for rank in range(2)]
    assert [len(loader) for loader in loaders] == [3, 3]
    for _ in range(2):
        first, second = (epoch_labels(loader) for loader in loaders)
        assert sorted(first + second) == list(range(23))


def test_val_reads_every_sample_once_in_order(make_file_list) -> None:
    loader = DALILoader(val_pipeline(make_file_list(11), batch_size=4, image_size=8))
    assert [epoch_labels(loader) for _ in range(2)] == [list(range(11))] * 2


def test_drop_last_drops_only_the_partial_batch(make_file_list) -> None:
    loader = DALILoader(train_pipeline(make_file_list(11), batch_size=4, image_size=8), drop_last=True)
    for _ in range(3):
        labels = epoch_labels(loader)
        assert len(labels) == 8 and len(set(labels)) == 8


def test_a_loop_left_early_is_continued(make_file_list) -> None:
    loader = DALILoader(train_pipeline(make_file_list(11), batch_size=4, image_size=8))
    for _, first in loader:
        break
    assert loader.epoch == 0
    rest = epoch_labels(loader)
    assert sorted(first.tolist() + rest) == list(range(11))
    assert loader.epoch == 1


@pytest.mark.parametrize("n, drop_last", [(8, False), (10, True)])
def test_mixing_stops_exactly_at_mixup_off_epoch(make_file_list, n, drop_last) -> None:
    # Few batches per epoch: DALI prefetches into the next epoch before this one ends. With
    # drop_last, DALI still runs the dropped partial batch, which the schedule must count.
    loader = DALILoader(train_pipeline(make_file_list(n), batch_size=4, image_size=8, mix=MIXUP),
                        mixup_off_epoch=2, drop_last=drop_last)
    per_epoch = []
    for epoch in range(4):
        loader.set_epoch(epoch)
        per_epoch.append(torch.cat([mixed_rows(targets) for _, targets in loader]).tolist())
    assert per_epoch == [[True] * 8] * 2 + [[False] * 8] * 2


@pytest.mark.parametrize("read_first", [False, True])
def test_set_epoch_jumps_past_mixup_off_epoch(make_file_list, read_first) -> None:
    loader = DALILoader(train_pipeline(make_file_list(8), batch_size=4, image_size=8, mix=MIXUP),
                        mixup_off_epoch=3)
    if read_first:
        assert all(mixed_rows(targets).all() for _, targets in loader)
    loader.set_epoch(5)
    batches = list(loader)
    assert not any(mixed_rows(targets).any() for _, targets in batches)
    assert loader.epoch == 6


def state_round_trip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return torch.load(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize("off_epoch", [2, None], ids=["mixing-off-from-epoch-2", "mixing-throughout"])
@pytest.mark.parametrize("skip", [5, 3, 0], ids=["mid-epoch", "epoch-boundary", "fresh"])
def test_resume_from_state_dict_yields_the_same_batches(make_file_list, skip, off_epoch) -> None:
    # 11 samples, batches of 4: 3 per epoch, the last one partial.
    path = make_file_list(11)

    def make() -> DALILoader:
        return DALILoader(train_pipeline(path, batch_size=4, image_size=8, mix=BOTH, seed=9),
                          mixup_off_epoch=off_epoch)

    def stream(loader: DALILoader, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        while len(out) < count:
            out += list(zip(range(count - len(out)), loader))
        return [batch for _, batch in out]

    original = make()
    stream(original, skip)
    state = state_round_trip(original.state_dict())
    expected = stream(original, 7)

    resumed = make()
    resumed.load_state_dict(state)
    assert resumed.epoch == skip // 3
    got = stream(resumed, 7)
    for (images, targets), (want_images, want_targets) in zip(got, expected, strict=True):
        assert torch.equal(images, want_images) and torch.equal(targets, want_targets)


# ------------------------------------------------------------------ the batches handed out

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def read_keeping(loader: DALILoader, kept: Batches, copies: Batches) -> None:
    """Read an epoch, keeping each batch and a copy of it taken as it came."""
    for images, targets in loader:
        kept.append((images, targets))
        copies.append((images.clone(), targets.clone()))


def test_batches_reach_torch_without_a_copy(make_file_list, monkeypatch) -> None:
    def refuse(*args, **kwargs) -> None:
        raise AssertionError("DALI copied a batch on its way to torch")

    monkeypatch.setattr(dali_torch, "feed_ndarray", refuse)  # what DALI copies with
    loader = DALILoader(train_pipeline(make_file_list(11), batch_size=4, image_size=8, mix=BOTH))
    assert [len(labels) for _ in range(2) for _, labels in loader] == [4, 4, 3] * 2


def test_kept_batches_are_not_overwritten_by_later_ones(make_file_list) -> None:
    # DALI's buffers: the ones torch holds must not be reused, across epochs, a jump that
    # rebuilds the pipeline, and after the pipeline is gone (a new loader resumes).
    path = make_file_list(11)

    def make() -> DALILoader:
        return DALILoader(train_pipeline(path, batch_size=4, image_size=8, mix=BOTH, seed=3),
                          mixup_off_epoch=4)

    loader, kept, copies = make(), [], []
    for _ in range(2):
        read_keeping(loader, kept, copies)
    loader.set_epoch(5)
    read_keeping(loader, kept, copies)
    resumed = make()
    resumed.load_state_dict(loader.state_dict())
    del loader
    gc.collect()
    for _ in range(4):
        assert len(list(resumed)) == 3
    assert len(kept) == 9
    for (images, targets), (want_images, want_targets) in zip(kept, copies, strict=True):
        assert torch.equal(images, want_images) and torch.equal(targets, want_targets)


@pytest.mark.parametrize("mix", [None, BOTH], ids=["class-ids", "mixed"])
def test_writing_to_a_batch_changes_no_later_batch(make_file_list, mix) -> None:
    path = make_file_list(11)

    def make() -> DALILoader:
        return DALILoader(train_pipeline(path, batch_size=4, image_size=8, mix=mix, seed=5))

    reference = make()
    expected = [(images.clone(), targets.clone())
                for _ in range(3) for images, targets in reference]
    loader, got, kept = make(), [], []
    for _ in range(3):
        for images, targets in loader:
            got.append((images.clone(), targets.clone()))
            images.fill_(-7)  # in place, as a training step may
            targets.fill_(-7)
            if len(got) % 2:  # half of them kept, half given back to DALI
                kept.append((images, targets))
    for (images, targets), (want_images, want_targets) in zip(got, expected, strict=True):
        assert torch.equal(images, want_images) and torch.equal(targets, want_targets)
    assert all((images == -7).all() and (targets == -7).all()
               for images, targets in kept)


@pytest.mark.parametrize("layout, dtype, memory_format", [
    ("NCHW", torch.float32, torch.contiguous_format),
    ("NHWC", torch.float16, torch.channels_last),
])
@pytest.mark.parametrize("mix", [None, BOTH], ids=["class-ids", "mixed"])
def test_batches_are_dense_tensors_of_the_promised_type(make_file_list, layout, dtype,
                                                        memory_format, mix) -> None:
    loader = DALILoader(train_pipeline(make_file_list(11), batch_size=4, image_size=8, mix=mix,
                                       layout=layout, dtype=str(dtype).removeprefix("torch.")))
    sizes = []
    for images, targets in loader:
        n = len(images)
        sizes.append(n)
        assert (images.shape, images.dtype, images.device.type) == ((n, 3, 8, 8), dtype, "cpu")
        assert images.is_contiguous(memory_format=memory_format)
        want = ((n, 16), torch.float32) if mix else ((n,), torch.int64)
        assert (targets.shape, targets.dtype) == want
        assert targets.is_contiguous()
    assert sizes == [4, 4, 3]


# ------------------------------------------------------------------ errors


def test_constructor_errors(make_file_list) -> None:
    path = make_file_list(5)
    plain = train_pipeline(path, batch_size=4, image_size=8)
    with pytest.raises(TypeError, match=r"pipeline: expected what pipelines\.train_pipeline or "
                                        r"val_pipeline returns, got str"):
        DALILoader("data/train")
    with pytest.raises(TypeError, match=r"drop_last: expected a bool, got 1"):
        DALILoader(plain, drop_last=1)
    with pytest.raises(ValueError, match=r"mixup_off_epoch: expected None or an integer >= 0, got -1"):
        DALILoader(train_pipeline(path, batch_size=4, image_size=8, mix=MIXUP), mixup_off_epoch=-1)
    with pytest.raises(ValueError, match=r"mixup_off_epoch: the pipeline does not mix \(built with mix=None\)"):
        DALILoader(plain, mixup_off_epoch=3)
    with pytest.raises(ValueError, match=r"drop_last=True with batch_size=8, more than the 5 samples of a "
                                         r"shard: no batch would be left"):
        DALILoader(train_pipeline(path, batch_size=8, image_size=8), drop_last=True)


class FewerClasses:
    """A source whose reader yields more classes than it declares (a user's own Source)."""

    def __init__(self, inner) -> None:
        self.inner, self.num_samples, self.classes, self.num_classes = inner, inner.num_samples, None, 2

    def read(self, **kwargs):
        return self.inner.read(**kwargs)


def test_bad_labels_at_run_time_raise_mix_input_error(make_file_list) -> None:
    source = FewerClasses(file_list(make_file_list(4)))
    mix = MixConfig(mixup_alpha=1.0, num_classes=2)
    loader = DALILoader(train_pipeline(source, batch_size=4, image_size=8, mix=mix))
    with pytest.raises(MixInputError, match=r"mix: the class id of sample \d, rounded, is outside \[0, num_classes=2\)"):
        list(loader)


def test_set_epoch_errors(make_file_list) -> None:
    loader = DALILoader(train_pipeline(make_file_list(8), batch_size=4, image_size=8))
    for bad in (-1, True, 1.0):
        with pytest.raises(ValueError, match=r"set_epoch: expected an integer >= 0, got"):
            loader.set_epoch(bad)
    for _ in zip(range(1), loader):
        pass
    loader.set_epoch(0)  # the epoch being read: nothing to do
    with pytest.raises(ValueError, match=r"set_epoch\(1\): epoch 0 is partly read \(1 of 2 batches\); "
                                         r"finish it first"):
        loader.set_epoch(1)


def test_load_state_dict_errors(make_file_list) -> None:
    path = make_file_list(8)
    state = DALILoader(train_pipeline(path, batch_size=4, image_size=8)).state_dict()
    with pytest.raises(ValueError, match=r"load_state_dict: expected a dict from DALILoader\.state_dict\(\)"):
        DALILoader(train_pipeline(path, batch_size=4, image_size=8)).load_state_dict({"epoch": 1})
    with pytest.raises(ValueError, match=r"load_state_dict: expected a dict from DALILoader\.state_dict\(\) \(version 3"):
        DALILoader(train_pipeline(path, batch_size=4, image_size=8)).load_state_dict({**state, "version": 2})
    with pytest.raises(ValueError, match=r"load_state_dict: the state comes from a loader with other "
                                         r"settings: .*'batch_size': 4.*'batch_size': 2"):
        DALILoader(train_pipeline(path, batch_size=2, image_size=8)).load_state_dict(state)
    with pytest.raises(ValueError, match=r"other settings: drop_last=False \(this loader: True\)"):
        DALILoader(train_pipeline(path, batch_size=4, image_size=8), drop_last=True).load_state_dict(state)


def test_the_stage_and_the_loader_do_not_import_the_pipelines_package() -> None:
    """The dependency runs one way: pipelines uses dali_mixup, not the reverse."""
    code = ("import sys, dali_mixup, dali_mixup.loader, dali_mixup.stage, dali_mixup.composed; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pipelines'))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[1])
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


class Explaining:
    """A pipeline of the loader's protocol that is not a ``PipelineSpec``: a spec's pipeline,
    with every run-time error explained its own way."""

    def __init__(self, spec) -> None:
        self._spec = spec
        self.mix, self.layout, self.reader_name = spec.mix, spec.layout, spec.reader_name
        self.batch_size, self.num_samples = spec.batch_size, spec.num_samples
        self.num_shards, self.iters_per_epoch = spec.num_shards, spec.iters_per_epoch

    def settings(self):
        return self._spec.settings()

    def pipeline(self, **kwargs):
        return self._spec.pipeline(**kwargs)

    def explain(self, error):
        return LookupError(f"explained: {type(error).__name__}")


def test_the_loader_takes_any_pipeline_of_its_protocol_and_raises_its_explanation(make_file_list) -> None:
    path = make_file_list(6)
    loader = DALILoader(Explaining(train_pipeline(path, batch_size=3, image_size=8)))
    assert len(loader) == 2
    (path.parent / "images" / "0004.png").write_bytes(b"not an image")  # after the checks
    with pytest.raises(LookupError, match=r"^explained: RuntimeError$"):
        list(loader)
