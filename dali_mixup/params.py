"""Drawing the mixing parameters of a batch: lam, partner, CutMix box (one step),
separate from applying them to images and labels (``stage.py``).

Everything here runs on the CPU (``fn.random.beta`` and ``fn.batch_permutation`` have no
GPU backend) on scalars or 2-vectors per sample. Every DALI operator costs a fixed time
per batch whatever its size, so the arithmetic works on (H, W) pairs at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath
from nvidia.dali.data_node import DataNode

from .config import MixConfig, Mode

Prob = float | DataNode


@dataclass(frozen=True)
class MixParams:
    """The per-sample parameters of one batch: CPU DataNodes, one value per sample.

    ``lam``: float32 scalar, the weight of the sample's own label in its target (after any
    CutMix area correction); 1 where nothing was mixed in.
    ``partner``: int32 scalar, index in the batch of the sample mixed in; the sample's own
    index where nothing was mixed in.
    ``cutmix``: int32 scalar, 1 where CutMix was applied, 0 for Mixup or no mixing.
    ``box``: int32 (4,), the pasted box (top, left, height, width) in pixels; zero size
    where CutMix was not applied.
    """

    lam: DataNode
    partner: DataNode
    cutmix: DataNode
    box: DataNode


@dataclass(frozen=True)
class Draw:
    """What applying needs, all CPU DataNodes with one value per sample.

    ``params``: the public ``MixParams``.
    ``index``: int32 scalar, the sample's own index in the batch.
    ``gather``: int32 scalar, the partner whose pixels are mixed in (for ``fn.permute_batch``
    and ``fn.multi_paste``; may be another sample even where nothing is mixed in).
    ``weight``: float32 scalar, weight of the own image outside the box (Mixup's lam, else 1).
    """

    params: MixParams
    index: DataNode
    gather: DataNode
    weight: DataNode


class _Seeds:
    """Seed arguments for the random operators: consecutive from ``seed``, or none at all so
    that DALI derives each from the pipeline's seed (an explicit -1 would give every
    operator the same one)."""

    def __init__(self, seed: int | None) -> None:
        self._next = seed

    def __call__(self) -> dict[str, int]:
        if self._next is None:
            return {}
        self._next += 1
        return {"seed": self._next - 1}


class _SampleIndex:
    """External source giving each sample its index in the batch (DALI has no such op).
    It takes the batch info only so that DALI knows it is stateless across checkpoints."""

    def __init__(self, batch_size: int) -> None:
        self._batch = np.arange(batch_size, dtype=np.int32)

    def __call__(self, info: types.BatchInfo) -> np.ndarray:
        return self._batch


def _share(values: DataNode, mode: Mode, batch_size: int) -> DataNode:
    """Make the draws shared per batch (sample 0's) or per pair (sample min(i, B-1-i)'s)."""
    if mode is Mode.ELEM:
        return values
    if mode is Mode.BATCH:
        return fn.permute_batch(values, indices=[0] * batch_size)
    return fn.permute_batch(values, indices=[min(i, batch_size - 1 - i) for i in range(batch_size)])


def _box(config: MixConfig, u: DataNode, lam_cut: DataNode | None,
         size: DataNode) -> tuple[DataNode, DataNode]:
    """timm's CutMix box as float32 (2,) vectors (top, left) and (height, width), in pixels.

    ``u``: uniform draws, 2 (box centre) or 4 (minmax: sides, then position).
    ``size``: float32 (2,) image (H, W).
    """
    if config.cutmix_minmax is not None:
        lo, hi = config.cutmix_minmax
        low = dmath.floor(size * lo)
        sides = low + dmath.floor(u[0:2] * (dmath.floor(size * hi) - low))
        return dmath.floor(u[2:4] * (size - sides)), sides
    # Side sqrt(1 - lam) of the image's, centred uniformly, clipped; halves rounded down.
    half = dmath.floor(dmath.floor(size * dmath.sqrt(1.0 - lam_cut)) * 0.5)
    centre = dmath.floor(u * size)
    top_left = dmath.max(centre - half, 0.0)
    return top_left, dmath.min(centre + half, size) - top_left


@dataclass(frozen=True)
class RandomInputs:
    """One batch's random draws, from DALI's seeded operators (CPU, one per sample).

    ``uniform``: float32 (1 + both + box draws,): [apply, (switch: with Mixup and CutMix),
    box draws (2: the centre; 4 with minmax: the sides, then the position)].
    ``permutation``: int32 scalar, a derangement of the batch (None in pair mode).
    ``beta_mixup``/``beta_cutmix``: float32 (1,), Beta(alpha, alpha) (None where unused:
    no Mixup; no CutMix, or CutMix from minmax).
    """

    uniform: DataNode
    permutation: DataNode | None
    beta_mixup: DataNode | None
    beta_cutmix: DataNode | None


def _uniform_layout(config: MixConfig) -> tuple[bool, int]:
    """Whether the uniform draws hold a switch draw, and how many box draws they hold."""
    box_draws = (4 if config.cutmix_minmax is not None else 2) if config.uses_cutmix else 0
    return config.uses_mixup and config.uses_cutmix, box_draws


def random_inputs(config: MixConfig, seed: int | None) -> RandomInputs:
    """Define the random operators one batch's parameters are computed from."""
    seeds = _Seeds(seed)
    both, box_draws = _uniform_layout(config)
    uniform = fn.random.uniform(range=[0.0, 1.0], shape=[1 + both + box_draws], **seeds())
    beta_mixup = beta_cutmix = None
    if config.uses_mixup:
        beta_mixup = fn.random.beta(alpha=config.mixup_alpha, beta=config.mixup_alpha,
                                    shape=[1], **seeds())
    if config.uses_cutmix and config.cutmix_minmax is None:
        beta_cutmix = fn.random.beta(alpha=config.cutmix_alpha, beta=config.cutmix_alpha,
                                     shape=[1], **seeds())
    permutation = (None if config.mode is Mode.PAIR
                   else fn.batch_permutation(no_fixed_points=True, **seeds()))
    return RandomInputs(uniform, permutation, beta_mixup, beta_cutmix)


def draw(config: MixConfig, *, batch_size: int, size: DataNode, prob: Prob,
         seed: int | None) -> Draw:
    """Draw one batch's parameters.

    ``size``: float32 (2,) per sample (CPU), the images' (H, W).
    ``prob``: the chance of mixing, constant or a float32 scalar per sample (CPU).
    Partners: a random derangement (``fn.batch_permutation(no_fixed_points=True)``) in
    batch and elem modes; i and B-1-i in pair mode (the middle sample of an odd batch mixes
    with nothing). A batch of one mixes with nothing. DALI pads a reader's last, partial
    batch with copies of its last sample, and those take part like any other sample.
    """
    r = random_inputs(config, seed)
    both, box_draws = _uniform_layout(config)
    draws = [d for d in (r.uniform, r.beta_mixup, r.beta_cutmix) if d is not None]
    raw = _share(fn.cat(*draws) if len(draws) > 1 else draws[0], config.mode, batch_size)
    at = 1 + both + box_draws  # where the Betas start in ``raw``

    index = fn.external_source(source=_SampleIndex(batch_size), batch=True, batch_info=True,
                               dtype=types.INT32, ndim=0)
    gather = batch_size - 1 - index if config.mode is Mode.PAIR else r.permutation
    if batch_size == 1:  # no other sample to mix in
        mixed = raw[0] < 0.0
    elif config.mode is Mode.PAIR and batch_size % 2 == 1:  # the middle sample pairs itself
        mixed = (raw[0] < prob) & (index != batch_size // 2)
    else:
        mixed = raw[0] < prob
    mixed = fn.cast(mixed, dtype=types.FLOAT)

    if both:
        cut = mixed * fn.cast(raw[1] < config.switch_prob, dtype=types.FLOAT)
        mixup = mixed - cut
    elif config.uses_cutmix:
        cut, mixup = mixed, 0.0
    else:
        cut, mixup = 0.0, mixed
    # Selections as exact products: 1 * a + 0 * b == a for finite a, b.
    weight = mixup * raw[at] + (1.0 - mixup) if config.uses_mixup else 1.0 + mixed * 0.0
    lam = weight
    if config.uses_cutmix:
        lam_cut = raw[at + config.uses_mixup] if config.cutmix_minmax is None else None
        top_left, sides = _box(config, raw[1 + both:at], lam_cut, size)
        sides = sides * cut
        if config.correct_lam or config.cutmix_minmax is not None:
            lam = lam - sides[0] * sides[1] / (size[0] * size[1])
        else:
            lam = lam + cut * (lam_cut - 1.0)
        box = fn.cast(fn.cat(top_left, sides), dtype=types.INT32)
    else:
        box = fn.cast(fn.stack(*[mixed * 0.0] * 4), dtype=types.INT32)
    partner = fn.cast(mixed * gather + (1.0 - mixed) * index, dtype=types.INT32)
    cutmix = fn.cast(cut if config.uses_cutmix else mixed * 0.0, dtype=types.INT32)
    params = MixParams(lam=lam, partner=partner, cutmix=cutmix, box=box)
    return Draw(params=params, index=index, gather=gather, weight=weight)
