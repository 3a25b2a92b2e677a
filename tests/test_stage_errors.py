"""Every error of the stage: bad configs, bad calls, bad batches at run time, device placement."""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def, types

from _mixrun import class_ids, composed, cuda_available, needs_cpu_operator, random_images, run_mix
from dali_mixup import MixConfig, MixInputError, cutmix, mix, mixup, native
from dali_mixup.errors import _MESSAGES, MAX_CLASSES, Check, explain


@pytest.mark.parametrize("options, message", [
    ({"mixup_alpha": -0.1}, "MixConfig.mixup_alpha: expected 0 or a number in [1.18e-38, 3.4e+38], got -0.1"),
    ({"cutmix_alpha": -1}, "MixConfig.cutmix_alpha: expected 0 or a number in [1.18e-38, 3.4e+38], got -1"),
    ({"cutmix_alpha": 1e-300}, "MixConfig.cutmix_alpha: expected 0 or a number in [1.18e-38, 3.4e+38], got 1e-300"),
    ({"mixup_alpha": 1e39}, "MixConfig.mixup_alpha: expected 0 or a number in [1.18e-38, 3.4e+38], got 1e+39"),
    ({"mixup_alpha": "1"}, "MixConfig.mixup_alpha: expected a finite number, got '1'"),
    ({"mixup_alpha": float("nan")}, "MixConfig.mixup_alpha: expected a finite number, got nan"),
    ({"mixup_alpha": 0.0, "cutmix_alpha": 0.0}, "mixup_alpha and cutmix_alpha are both 0"),
    ({"prob": 1.5}, "MixConfig.prob: expected a number in [0, 1], got 1.5"),
    ({"prob": -0.1}, "MixConfig.prob: expected a number in [0, 1], got -0.1"),
    ({"switch_prob": 2}, "MixConfig.switch_prob: expected a number in [0, 1], got 2"),
    ({"label_smoothing": 1.0}, "MixConfig.label_smoothing: expected a number in [0, 1), got 1.0"),
    ({"label_smoothing": -0.1}, "MixConfig.label_smoothing: expected a number in [0, 1), got -0.1"),
    ({"num_classes": 0}, "MixConfig.num_classes: expected an integer >= 1, got 0"),
    ({"num_classes": 10.0}, "MixConfig.num_classes: expected an integer >= 1, got 10.0"),
    ({"mode": "batches"}, "MixConfig.mode: expected one of ['batch', 'pair', 'elem'], got 'batches'"),
    ({"cutmix_minmax": (0.5, 0.2)}, "MixConfig.cutmix_minmax: expected None or a pair (lo, hi) with 0 < lo < hi <= 1, got (0.5, 0.2)"),
    ({"cutmix_minmax": (0.0, 0.5)}, "MixConfig.cutmix_minmax: expected None or a pair"),
    ({"cutmix_minmax": (0.2, 1.1)}, "MixConfig.cutmix_minmax: expected None or a pair"),
    ({"cutmix_minmax": (0.2,)}, "MixConfig.cutmix_minmax: expected None or a pair"),
    ({"correct_lam": 1}, "MixConfig.correct_lam: expected a bool, got 1"),
])
def test_bad_config_names_the_field_what_was_expected_and_what_was_given(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MixConfig(**options)


def test_config_is_frozen_keyword_only_and_takes_timm_defaults():
    config = MixConfig()
    assert (config.mixup_alpha, config.cutmix_alpha, config.cutmix_minmax, config.prob,
            config.switch_prob, config.mode, config.correct_lam, config.label_smoothing,
            config.num_classes) == (1.0, 0.0, None, 1.0, 0.5, "batch", True, 0.1, 1000)
    with pytest.raises(AttributeError):
        config.prob = 0.5
    with pytest.raises(TypeError):
        MixConfig(1.0)
    # cutmix_minmax alone enables CutMix, as in timm.
    assert MixConfig(mixup_alpha=0.0, cutmix_minmax=[0.2, 0.8]).cutmix_minmax == (0.2, 0.8)


def _define(call):
    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def pipe():
        x = fn.external_source(source=lambda: random_images(2), batch=True, layout="HWC")
        y = fn.external_source(source=lambda: class_ids(2), batch=True)
        return call(x, y)

    return pipe()


@pytest.mark.parametrize("options, error, message", [
    ({"prob": 1.2}, ValueError, "mix: prob: expected None, a number in [0, 1] or a CPU DataNode, got 1.2"),
    ({"seed": -3}, ValueError, "mix: seed: expected None or an integer >= 0, got -3"),
    ({"layout": "NHWC"}, ValueError, "mix: layout: expected None, 'HWC' or 'CHW', got 'NHWC'"),
    ({"dtype": types.INT32}, ValueError, "mix: dtype: expected types.FLOAT, types.FLOAT16 or types.UINT8"),
])
def test_bad_call_arguments_are_refused_when_the_graph_is_defined(options, error, message):
    config = MixConfig(num_classes=2)
    with pytest.raises(error, match=re.escape(message)):
        _define(lambda x, y: mix(x, y, config, **options))


def test_config_must_be_a_mix_config():
    with pytest.raises(TypeError, match="mix: config: expected a MixConfig, got dict"):
        _define(lambda x, y: mix(x, y, {"mixup_alpha": 1.0}))


def test_prob_node_must_be_on_the_cpu():
    config = MixConfig(num_classes=2)
    with pytest.raises(ValueError, match="mix: prob: expected a CPU DataNode"):
        @pipeline_def(batch_size=2, num_threads=1, device_id=0)
        def pipe():
            x = fn.external_source(source=lambda: random_images(2), batch=True, layout="HWC")
            y = fn.external_source(source=lambda: class_ids(2), batch=True)
            return mix(x, y, config, prob=fn.random.uniform(range=[0, 1]).gpu())

        pipe()


def test_mix_outside_a_pipeline_definition_is_refused():
    with pytest.raises(RuntimeError, match="mix: call it while defining a DALI pipeline"):
        mix(None, None, MixConfig())


def test_conveniences_validate_through_mix_config():
    with pytest.raises(ValueError, match="MixConfig.mixup_alpha: expected 0 or a number in"):
        _define(lambda x, y: mixup(x, y, alpha=-1, num_classes=2))
    with pytest.raises(ValueError, match="MixConfig.cutmix_minmax: expected None or a pair"):
        _define(lambda x, y: cutmix(x, y, alpha=1.0, minmax=(0.9, 0.1), num_classes=2))


def test_conveniences_mix_only_their_own_kind():
    images, labels = random_images(6), class_ids(6)
    cut = run_mix(images, labels, MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem",
                                            num_classes=6), iterations=3)
    assert all(np.all(r.cutmix == 1) for r in cut)

    @pipeline_def(batch_size=6, num_threads=1, device_id=None, seed=1)
    def pipe():
        x = fn.external_source(source=lambda: images, batch=True, layout="HWC")
        y = fn.external_source(source=lambda: labels, batch=True)
        a, ta, pa = mixup(x, y, alpha=1.0, num_classes=6, mode="elem", return_params=True)
        b, tb, pb = cutmix(x, y, alpha=1.0, num_classes=6, mode="elem", return_params=True)
        return pa.cutmix, pb.cutmix, ta

    p = pipe()
    p.build()
    mixup_cut, cutmix_cut, targets = p.run()
    assert np.all(np.array(mixup_cut.as_tensor()) == 0)
    assert np.all(np.array(cutmix_cut.as_tensor()) == 1)
    assert np.array(targets.as_tensor()).shape == (6, 6)


@pytest.mark.parametrize("images, labels, message", [
    ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)], class_ids(2),
     "mix: all images in a batch must have the same shape, but sample 1 differs from sample 0"),
    (random_images(3), [np.array([0], np.int32), np.array([3], np.int32), np.array([1], np.int32)],
     re.escape("mix: the class id of sample 1, rounded, is outside [0, num_classes=3)")),
    (random_images(3), [np.array([0], np.int32), np.array([1], np.int32), np.array([-1], np.int32)],
     re.escape("mix: the class id of sample 2, rounded, is outside [0, num_classes=3)")),
    (random_images(2), [np.ones(3, np.float32) / 3, np.ones(4, np.float32) / 4],
     "mix: the label of sample 1 is neither a class id nor a vector of length num_classes=3"),
])
@pytest.mark.parametrize("config, layout", [
    (MixConfig(num_classes=3), None),
    (MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, num_classes=3), "HWC"),
    (MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=3), "HWC"),  # the paste alone
], ids=["mixup-layout-read", "switch-layout-given", "cutmix-layout-given"])
@pytest.mark.parametrize("device", ["cpu", "cpu-composed"])
def test_bad_batches_give_a_clear_python_error(images, labels, message, config, layout, device):
    with pytest.raises(MixInputError, match=message) as info:
        run_mix(images, labels, config, layout=layout, device=device)
    assert "C++" not in str(info.value) and info.value.__cause__ is None


@pytest.mark.parametrize("device", ["cpu", "cpu-composed"])
def test_images_without_layout_are_refused_unless_layout_is_given(device):
    config = MixConfig(num_classes=2)
    images = random_images(2)
    with pytest.raises(MixInputError, match="mix: images must have layout 'HWC' or 'CHW'"):
        run_mix(images, class_ids(2), config, image_layout=None, device=device)
    chw = [np.ascontiguousarray(im.transpose(2, 0, 1)) for im in images]
    r = run_mix(chw, class_ids(2), config, image_layout=None, layout="CHW", device=device)[0]
    assert r.images.shape == (2, 3, 12, 16)


@needs_cpu_operator
@pytest.mark.parametrize("config", [MixConfig(num_classes=2),
                                    MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=2)])
@pytest.mark.parametrize("layout", [None, "HWC"])
def test_float16_images_without_dtype_float16_are_refused_clearly_by_dalis_operators(config, layout):
    """DALI's CPU arithmetic has no float16; the stage's CPU operator takes any input type."""
    images = random_images(2, dtype=np.float16)
    with pytest.raises(MixInputError, match="mix: the images are float16: pass dtype=types.FLOAT16"):
        run_mix(images, class_ids(2), config, layout=layout, device="cpu-composed")
    r = run_mix(images, class_ids(2), config, layout=layout, dtype=types.FLOAT16,
                device="cpu-composed")[0]
    assert r.images.dtype == np.float16
    r = run_mix(images, class_ids(2), config, layout=layout)[0]
    assert r.images.dtype == np.float32


@needs_cpu_operator
def test_cutmix_on_chw_images_with_more_than_four_channels_is_refused_by_dalis_operators():
    """DALI's paste works plane by plane, up to 4; the stage's CPU operator takes any count."""
    images = random_images(2, shape=(5, 6, 6))
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=2)
    with pytest.raises(MixInputError, match="CutMix on CHW images takes at most 4 channels; "
                                            "sample 0 has more"):
        run_mix(images, class_ids(2), config, image_layout="CHW", layout="CHW", device="cpu-composed")
    r = run_mix(images, class_ids(2), config, image_layout="CHW", layout="CHW", iterations=3)
    for run in r:
        for i in range(2):
            top, left, h, w = run.box[i]
            mine, other = images[i].astype(np.float32), images[int(run.partner[i])].astype(np.float32)
            expected = mine.copy()
            expected[:, top:top + h, left:left + w] = other[:, top:top + h, left:left + w]
            np.testing.assert_array_equal(run.images[i], expected)


@pytest.mark.parametrize("tag, message", [
    ("[dali_mixup labels: expected numbers, got type string]", "mix: labels: expected numbers, got type string"),
    ("[dali_mixup images: expected uint8, float16 or float32, got int32]",
     "mix: images: expected uint8, float16 or float32, got int32"),
    ("[dali_mixup check=6 sample=2 num_classes=9]",
     "mix: sample 2 has another number of channels than Normalize has mean and std values"),
])
def test_the_cpu_operators_tags_become_plain_messages(tag, message):
    error = explain(RuntimeError(f"Critical error in pipeline:\nError in CPU operator "
                                 f"`nvidia.dali.fn.dali_mixup_mix`\n{tag}\nC++ context: ..."))
    assert isinstance(error, MixInputError) and str(error) == message


@needs_cpu_operator
def test_images_of_another_type_are_refused_clearly():
    images = [np.zeros((4, 4, 3), np.int32)] * 2
    with pytest.raises(MixInputError, match="mix: images: expected uint8, float16 or float32, got"):
        run_mix(images, class_ids(2), MixConfig(num_classes=2))


@pytest.mark.parametrize("num_classes", [1, 1000, 400_000, 1_000_000, MAX_CLASSES])
@pytest.mark.parametrize("check", list(Check))
def test_failed_check_decodes_to_its_message_for_any_number_of_classes(check, num_classes):
    """The failing reshape's requested size carries the check and num_classes; it must come
    back as the same check for label sets far beyond ImageNet's."""
    requested = 1 + int(check) * (1 + 8 * (7_340_032 + num_classes))
    assert requested < 2**31, "the size is computed in int32 inside the graph"
    text = (f"Error in CPU operator `nvidia.dali.fn.reshape`\nSample index:     3\n"
            f"Requested volume: {requested}\n")
    error = explain(RuntimeError(text))
    assert isinstance(error, MixInputError)
    assert str(error).startswith("mix: " + _MESSAGES[check].format(sample=3, num_classes=num_classes))


def test_labels_must_be_on_the_cpu():
    with pytest.raises(ValueError, match="mix: labels: expected a CPU DataNode"):
        @pipeline_def(batch_size=2, num_threads=1, device_id=0)
        def pipe():
            x = fn.external_source(source=lambda: random_images(2), batch=True, layout="HWC")
            y = fn.external_source(source=lambda: class_ids(2), batch=True)
            return mix(x.gpu(), y.gpu(), MixConfig(num_classes=2))

        pipe()


def test_other_pipeline_errors_pass_through_unchanged():
    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def pipe():
        x = fn.external_source(source=lambda: [np.zeros((2, 2), np.float32)], batch=True)
        return fn.reshape(x, shape=[3])

    from dali_mixup import translate_errors

    p = pipe()
    p.build()
    with pytest.raises(RuntimeError, match="Requested volume"):
        with translate_errors():
            p.run()


def _gpu_graph(config: MixConfig, *, layout: str | None, conditionals: bool, params_on: str):
    """A GPU pipeline mixing with ``config``; ``params_on``: where ``MixParams`` must be."""
    @pipeline_def(batch_size=4, num_threads=1, device_id=0, seed=1, enable_conditionals=conditionals)
    def pipe():
        x = fn.external_source(source=lambda: random_images(4), batch=True, layout="HWC")
        if layout == "CHW":
            x = fn.transpose(x, perm=[2, 0, 1], output_layout="CHW")
        y = fn.external_source(source=lambda: class_ids(4), batch=True)
        prob = fn.external_source(source=lambda: [np.float32(1)] * 4, batch=True)
        samples = fn.external_source(source=lambda: [np.int32(3)] * 4, batch=True)
        out, targets, params = mix(x.gpu(), y, config, prob=prob, return_params=True,
                                   dtype=types.FLOAT16, layout=layout, samples=samples)
        assert out.device == "gpu" and targets.device == "gpu"
        assert {p.device for p in (params.lam, params.partner, params.cutmix, params.box)} == {params_on}
        return out, targets, params.lam

    return pipe()


@pytest.mark.parametrize("layout, conditionals", [(None, False), ("HWC", False), ("HWC", True),
                                                  ("CHW", True)])
@pytest.mark.parametrize("config", [
    MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mode="batch", num_classes=4),
    MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mode="pair", num_classes=4),
    MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mode="elem", num_classes=4),
    MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=4),
], ids=["switch-batch", "switch-pair", "switch-elem", "cutmix"])
@pytest.mark.skipif(cuda_available(), reason="the GPU tests run the GPU graph itself")
@pytest.mark.parametrize("path", ["ours", "dalis"])
def test_gpu_graph_is_well_formed_without_a_gpu(config, layout, conditionals, path):
    """Device placement is checked while the graph is defined, so defining each GPU variant
    (the stage's GPU operator; on DALI's operators: blend, paste, both, the per-batch
    branch) on a machine without CUDA proves it well formed; only building it needs the
    device. The operator's outputs are all on the GPU, DALI's parameters on the CPU."""
    if path == "ours" and not native.available("gpu"):
        pytest.skip("the stage's GPU operator is unavailable here")
    with composed() if path == "dalis" else contextlib.nullcontext():
        pipe = _gpu_graph(config, layout=layout, conditionals=conditionals,
                          params_on="gpu" if path == "ours" else "cpu")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pipe.build()


@pytest.mark.parametrize("device", ["cpu", "cpu-composed"])
def test_float_class_ids_are_rounded_before_the_range_check(device):
    """1.6 and 2.4 round to class 2 of 3, -0.4 to class 0; 2.5 (half away from zero) and 2.6
    round to 3, and NaN to nothing: those are refused."""
    config = MixConfig(num_classes=3, label_smoothing=0.0)
    labels = [np.array([v], np.float32) for v in (1.6, 2.4, -0.4, 1.0)]
    for r in run_mix(random_images(4), labels, config, device=device, iterations=3, prob=0.0):
        np.testing.assert_array_equal(r.targets, np.eye(3, dtype=np.float32)[[2, 2, 0, 1]])
    for bad in (2.5, 2.6, np.nan):
        labels = [np.array([v], np.float32) for v in (0.0, bad)]
        with pytest.raises(MixInputError, match=re.escape("mix: the class id of sample 1, rounded, is "
                                                          "outside [0, num_classes=3)")):
            run_mix(random_images(2), labels, config, device=device)


@pytest.mark.parametrize("device", ["cpu", "cpu-composed"])
@pytest.mark.parametrize("shape", [(0, 5, 3), (4, 5, 0)])
def test_empty_images_are_refused(shape, device):
    images = [np.zeros(shape, np.uint8)] * 2
    with pytest.raises(MixInputError, match=re.escape("mix: sample 0 is empty (a side or the channels "
                                                      "have size 0)")):
        run_mix(images, class_ids(2), MixConfig(num_classes=2), device=device, layout="HWC")


@needs_cpu_operator
@pytest.mark.parametrize("prob_dtype", [np.float64, np.int32])
def test_prob_of_any_numeric_type_is_taken(prob_dtype):
    images, labels = random_images(4), class_ids(4)

    @pipeline_def(batch_size=4, num_threads=1, device_id=None, seed=3)
    def pipe():
        x = fn.external_source(source=lambda: images, batch=True, layout="HWC")
        y = fn.external_source(source=lambda: labels, batch=True)
        prob = fn.external_source(source=lambda: [np.array(0, prob_dtype)] * 4, batch=True)
        _, _, params = mix(x, y, MixConfig(num_classes=4, prob=1.0), prob=prob, return_params=True)
        return params.partner

    p = pipe()
    p.build()
    partners = np.array(p.run()[0].as_tensor())
    np.testing.assert_array_equal(partners, np.arange(4), err_msg="prob 0 (config: 1): nothing mixed")


@needs_cpu_operator
def test_bool_labels_are_class_ids_0_and_1():
    labels = [np.array([v]) for v in (True, False, True, False)]
    r = run_mix(random_images(4), labels, MixConfig(num_classes=2, label_smoothing=0.0), prob=0.0)[0]
    np.testing.assert_array_equal(r.targets, np.eye(2, dtype=np.float32)[[1, 0, 1, 0]])


@needs_cpu_operator
def test_more_classes_than_dalis_operators_can_report_is_refused_there_only():
    """The CPU operator reports any class count; DALI's operators encode it in an int32."""
    config = MixConfig(num_classes=MAX_CLASSES + 1)
    with composed(), pytest.raises(ValueError, match=re.escape(
            f"mix: num_classes: on DALI's operators (images on a device without the stage's "
            f"operator) at most {MAX_CLASSES:,}, got {MAX_CLASSES + 1:,}")):
        _define(lambda x, y: mix(x, y, config))
    _define(lambda x, y: mix(x, y, config))
