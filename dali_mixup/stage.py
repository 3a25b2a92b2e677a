"""The mixing stage: Mixup and CutMix applied to a batch inside a DALI graph.

CutMix pastes the partner's box into each image; Mixup blends ``x * w + x_partner * (1 - w)``
with ``w`` Mixup's lam, or 1 where the sample is cut or not mixed. Random draws come from
DALI's seeded operators (``params.py``). Images go through the stage's own operator
(``fn.dali_mixup_mix``, built from ``csrc/``) on their device where it is available
(``uses_operator``): it computes parameters and targets once per batch on the CPU and writes
each output pixel once. Elsewhere they go through DALI's own operators (``composed.py``).
"""

from __future__ import annotations

from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import Pipeline

from . import native
from .composed import mix_composed
from .config import Layout, MixConfig, Mode, Normalize
from .params import MixParams, Prob, random_inputs

_DTYPES = (types.FLOAT, types.FLOAT16, types.UINT8)
_LAYOUTS = ("HWC", "CHW")


def uses_operator(images: DataNode) -> bool:
    """Whether ``images`` go through the stage's own operators (``fn.dali_mixup_mix``,
    ``fn.dali_mixup_normalize``) rather than DALI's: where those are built for the images'
    device and not switched off (``DALI_MIXUP_FUSED=0``). The one place that decides, for
    ``mix`` and ``normalize`` alike."""
    return native.available(images.device)


def _current_batch_size() -> int:
    pipe = Pipeline.current()
    if pipe is None:
        raise RuntimeError("mix: call it while defining a DALI pipeline (inside @pipeline_def or "
                           "a `with pipe:` block), not outside one")
    return pipe.max_batch_size


def _validate_cpu_node(name: str, value: object, what: str) -> None:
    """``value``: None or a CPU DataNode holding ``what``."""
    if value is None:
        return
    if not isinstance(value, DataNode):
        raise TypeError(f"mix: {name}: expected None or a CPU DataNode ({what}), got "
                        f"{type(value).__name__}")
    if value.device != "cpu":
        raise ValueError(f"mix: {name}: expected a CPU DataNode ({what}), got a GPU one")


def _validate_call(labels: object, config: object, prob: object, seed: object, layout: object,
                   dtype: object, normalize: object, samples: object) -> None:
    if not isinstance(config, MixConfig):
        raise TypeError(f"mix: config: expected a MixConfig, got {type(config).__name__}")
    if isinstance(labels, DataNode) and labels.device != "cpu":
        raise ValueError("mix: labels: expected a CPU DataNode (as DALI's readers give them), "
                         "got a GPU one")
    if isinstance(prob, DataNode):
        if prob.device != "cpu":
            raise ValueError("mix: prob: expected a CPU DataNode (one float32 per sample), got a GPU one")
    elif prob is not None and (isinstance(prob, bool) or not isinstance(prob, (int, float))
                               or not 0 <= prob <= 1):
        raise ValueError(f"mix: prob: expected None, a number in [0, 1] or a CPU DataNode, got {prob!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"mix: seed: expected None or an integer >= 0, got {seed!r}")
    if layout is not None and layout not in _LAYOUTS:
        raise ValueError(f"mix: layout: expected None, 'HWC' or 'CHW', got {layout!r}")
    if dtype not in _DTYPES:
        raise ValueError(f"mix: dtype: expected types.FLOAT, types.FLOAT16 or types.UINT8, "
                         f"got {dtype!r}")
    if normalize is not None:
        if not isinstance(normalize, Normalize):
            raise TypeError(f"mix: normalize: expected None or a Normalize, got {type(normalize).__name__}")
        if dtype == types.UINT8:
            raise ValueError("mix: dtype: expected types.FLOAT or types.FLOAT16 with normalize, "
                             "got types.UINT8")
    _validate_cpu_node("samples", samples, "an integer scalar per sample")


def _mix_operator(images: DataNode, labels: DataNode, config: MixConfig, *, prob: Prob,
                  seed: int | None, layout: Layout | None, dtype: types.DALIDataType,
                  normalize: Normalize | None,
                  samples: DataNode | None) -> tuple[DataNode, DataNode, MixParams]:
    """Images through the stage's one-pass operator on their device; every output (targets
    and parameters too) on that device."""
    r = random_inputs(config, seed)
    extra = [d for d in (r.permutation, r.beta_mixup, r.beta_cutmix) if d is not None]
    if isinstance(prob, DataNode):  # the operator's argument input takes float32 only
        prob = fn.cast(prob, dtype=types.FLOAT)
    options = dict(normalize.arguments) if normalize is not None else {}
    if samples is not None:  # an argument input of int32 only
        options["samples"] = fn.cast(samples, dtype=types.INT32)
    out, targets, lam, partner, cut, box = fn.dali_mixup_mix(
        images, labels, r.uniform, *extra, prob=prob, num_classes=config.num_classes,
        mode=list(Mode).index(config.mode), mixup=config.uses_mixup, cutmix=config.uses_cutmix,
        switch_prob=config.switch_prob, correct_lam=config.correct_lam,
        label_smoothing=config.label_smoothing,
        # As text: the operator reads timm's bounds as the doubles they are (see _box in params).
        minmax=",".join(repr(float(v)) for v in config.cutmix_minmax or ()),
        layout=layout or "", dtype=dtype, device=images.device, **options)
    return out, targets, MixParams(lam=lam, partner=partner, cutmix=cut, box=box)


def mix(images: DataNode, labels: DataNode, config: MixConfig, *, prob: Prob | None = None,
        seed: int | None = None, layout: Layout | None = None,
        dtype: types.DALIDataType = types.FLOAT, normalize: Normalize | None = None,
        samples: DataNode | None = None, return_params: bool = False):
    """Mix a batch with Mixup and/or CutMix as ``config`` says; call it in a pipeline definition.

    ``images``: CPU or GPU DataNode, one shape for the whole batch, layout HWC or CHW (from
    the DataNode, or ``layout``), dtype uint8, float16 or float32.
    ``labels``: CPU DataNode of integer class ids (scalar or shape (1,)) or soft/one-hot
    float vectors of length ``config.num_classes``; a label of one element is always a class
    id (a float one is rounded).
    ``prob``: overrides ``config.prob``; a CPU DataNode (float32 scalar per sample, e.g. an
    ``fn.external_source``) changes it between iterations without rebuilding the pipeline.
    ``seed``: seeds of the stage's random operators (default: derived from the pipeline's).
    ``normalize``: a ``Normalize`` applied to the mixed images (its layout is the output's);
    with the stage's operator in the same pass, so a pipeline needs no
    ``fn.crop_mirror_normalize``.
    ``samples``: a CPU DataNode, an integer scalar per sample, the same for every sample of
    a batch: how many samples at the start of the batch are real, the rest being DALI's
    padding of a reader's last, partial batch (copies of its last sample); None, or a value
    outside [0, batch size): all are real. Padded samples are not mixed (partner: themselves,
    lam 1, their own target) and real samples mix only with real ones. ``pipelines`` gives it
    wherever a shard's last batch is padded.
    Returns ``(images, targets)`` on the images' device: images of ``dtype`` (float32,
    float16, or uint8 with Mixup rounded half to even, as timm's ``FastCollateMixup``)
    with the input's shape and layout (or ``normalize.layout``); targets float32
    (num_classes,) per sample, ``lam * smooth(y) + (1 - lam) * smooth(y_partner)``. With
    ``return_params`` also a ``MixParams`` (on the GPU where the stage's operator mixes GPU
    images, else on the CPU).
    Bad batches (layout, ragged shapes, labels) stop the pipeline; wrap its runs in
    ``translate_errors()`` to get a ``MixInputError`` that says what was wrong.
    """
    _validate_call(labels, config, prob, seed, layout, dtype, normalize, samples)
    batch_size = _current_batch_size()
    options = dict(prob=config.prob if prob is None else prob, seed=seed, layout=layout,
                   dtype=dtype, normalize=normalize, samples=samples)
    if uses_operator(images):
        images, targets, params = _mix_operator(images, labels, config, **options)
    else:
        images, targets, params = mix_composed(images, labels, config, batch_size=batch_size,
                                               **options)
    if images.device == "gpu" and targets.device != "gpu":
        targets = targets.gpu()
    return (images, targets, params) if return_params else (images, targets)


def mixup(images: DataNode, labels: DataNode, *, alpha: float, num_classes: int,
          prob: Prob = 1.0, mode: Mode | str = Mode.BATCH, label_smoothing: float = 0.1,
          seed: int | None = None, layout: Layout | None = None,
          dtype: types.DALIDataType = types.FLOAT, samples: DataNode | None = None,
          return_params: bool = False):
    """Mixup only: ``mix`` with ``MixConfig(mixup_alpha=alpha, cutmix_alpha=0, ...)``."""
    config = MixConfig(mixup_alpha=alpha, cutmix_alpha=0.0, mode=mode,
                       label_smoothing=label_smoothing, num_classes=num_classes)
    return mix(images, labels, config, prob=prob, seed=seed, layout=layout, dtype=dtype,
               samples=samples, return_params=return_params)


def cutmix(images: DataNode, labels: DataNode, *, alpha: float, num_classes: int,
           minmax: tuple[float, float] | None = None, correct_lam: bool = True,
           prob: Prob = 1.0, mode: Mode | str = Mode.BATCH, label_smoothing: float = 0.1,
           seed: int | None = None, layout: Layout | None = None,
           dtype: types.DALIDataType = types.FLOAT, samples: DataNode | None = None,
           return_params: bool = False):
    """CutMix only: ``mix`` with ``MixConfig(mixup_alpha=0, cutmix_alpha=alpha, ...)``."""
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=alpha, cutmix_minmax=minmax,
                       correct_lam=correct_lam, mode=mode, label_smoothing=label_smoothing,
                       num_classes=num_classes)
    return mix(images, labels, config, prob=prob, seed=seed, layout=layout, dtype=dtype,
               samples=samples, return_params=return_params)
