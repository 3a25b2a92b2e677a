"""timm's ``auto_augment`` strings, parsed into frozen policies: which operations, how often and
how strong (``timm.data.auto_augment``'s grammar and tables, without importing timm).

- RandAugment, ``"rand-m9-mstd0.5-inc1"``: sections ``m`` (magnitude, integer), ``n`` (operations
  per image, default 2), ``mstd`` (magnitude noise: normal std; > 100 uniform in [0, m]), ``mmax``
  (magnitude upper bound, default 10), ``inc`` (1: the increasing-severity operations), ``p``
  (chance of each operation, default 0.5).
- AutoAugment, ``"original"``, ``"originalr"``, ``"v0"``, ``"v0r"`` (the ImageNet policies), with
  an optional ``mstd`` section.
- TrivialAugment-wide, ``"ta_wide"`` (not one of timm's strings: torchvision's
  ``TrivialAugmentWide`` operations and magnitude bins, done with timm's operations).

What timm accepts but this package cannot do faithfully is refused with a ``ValueError`` naming
the part: AugMix (``"augmix-..."``), the ``"3a"`` policy and RandAugment's ``t`` transform sets
(weighted choice, blur, desaturation).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .augment_ops import Op

LEVEL_DENOM = 10.0  # timm's _LEVEL_DENOM: the magnitude that maps to the strongest argument

# timm's operation names -> codes of ours (the named codes apply timm's level functions).
TIMM_OPS: dict[str, Op] = {
    "AutoContrast": Op.AUTO_CONTRAST, "Equalize": Op.EQUALIZE, "Invert": Op.INVERT, "Rotate": Op.ROTATE,
    "Posterize": Op.POSTERIZE, "PosterizeIncreasing": Op.POSTERIZE_INCREASING,
    "PosterizeOriginal": Op.POSTERIZE_ORIGINAL, "Solarize": Op.SOLARIZE,
    "SolarizeIncreasing": Op.SOLARIZE_INCREASING, "SolarizeAdd": Op.SOLARIZE_ADD, "Color": Op.COLOR,
    "ColorIncreasing": Op.COLOR_INCREASING, "Contrast": Op.CONTRAST, "ContrastIncreasing": Op.CONTRAST_INCREASING,
    "Brightness": Op.BRIGHTNESS, "BrightnessIncreasing": Op.BRIGHTNESS_INCREASING, "Sharpness": Op.SHARPNESS,
    "SharpnessIncreasing": Op.SHARPNESS_INCREASING, "ShearX": Op.SHEAR_X, "ShearY": Op.SHEAR_Y,
    "TranslateX": Op.TRANSLATE_X, "TranslateY": Op.TRANSLATE_Y, "TranslateXRel": Op.TRANSLATE_X_REL,
    "TranslateYRel": Op.TRANSLATE_Y_REL,
}
# Operations whose level timm negates with chance 1/2 (_randomly_negate).
SIGNED = frozenset({Op.ROTATE, Op.SHEAR_X, Op.SHEAR_Y, Op.TRANSLATE_X, Op.TRANSLATE_Y, Op.TRANSLATE_X_REL,
                    Op.TRANSLATE_Y_REL, Op.COLOR_INCREASING, Op.CONTRAST_INCREASING, Op.BRIGHTNESS_INCREASING,
                    Op.SHARPNESS_INCREASING})

_RAND = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
         "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
_RAND_INCREASING = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
                    "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
                    "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")

# timm's ImageNet AutoAugment policies: sub-policies of (operation, probability, magnitude).
_V0 = (
    (("Equalize", 0.8, 1), ("ShearY", 0.8, 4)), (("Color", 0.4, 9), ("Equalize", 0.6, 3)),
    (("Color", 0.4, 1), ("Rotate", 0.6, 8)), (("Solarize", 0.8, 3), ("Equalize", 0.4, 7)),
    (("Solarize", 0.4, 2), ("Solarize", 0.6, 2)), (("Color", 0.2, 0), ("Equalize", 0.8, 8)),
    (("Equalize", 0.4, 8), ("SolarizeAdd", 0.8, 3)), (("ShearX", 0.2, 9), ("Rotate", 0.6, 8)),
    (("Color", 0.6, 1), ("Equalize", 1.0, 2)), (("Invert", 0.4, 9), ("Rotate", 0.6, 0)),
    (("Equalize", 1.0, 9), ("ShearY", 0.6, 3)), (("Color", 0.4, 7), ("Equalize", 0.6, 0)),
    (("Posterize", 0.4, 6), ("AutoContrast", 0.4, 7)), (("Solarize", 0.6, 8), ("Color", 0.6, 9)),
    (("Solarize", 0.2, 4), ("Rotate", 0.8, 9)), (("Rotate", 1.0, 7), ("TranslateYRel", 0.8, 9)),
    (("ShearX", 0.0, 0), ("Solarize", 0.8, 4)), (("ShearY", 0.8, 0), ("Color", 0.6, 4)),
    (("Color", 1.0, 0), ("Rotate", 0.6, 2)), (("Equalize", 0.8, 4), ("Equalize", 0.0, 8)),
    (("Equalize", 1.0, 4), ("AutoContrast", 0.6, 2)), (("ShearY", 0.4, 7), ("SolarizeAdd", 0.6, 7)),
    (("Posterize", 0.8, 2), ("Solarize", 0.6, 10)), (("Solarize", 0.6, 8), ("Equalize", 0.6, 1)),
    (("Color", 0.8, 6), ("Rotate", 0.4, 5)),
)
_ORIGINAL = (
    (("PosterizeOriginal", 0.4, 8), ("Rotate", 0.6, 9)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)), (("PosterizeOriginal", 0.6, 7), ("PosterizeOriginal", 0.6, 6)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)), (("Equalize", 0.4, 4), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, 7)), (("PosterizeOriginal", 0.8, 5), ("Equalize", 1.0, 2)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)), (("Equalize", 0.6, 8), ("PosterizeOriginal", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)), (("Rotate", 0.4, 9), ("Equalize", 0.6, 2)),
    (("Equalize", 0.0, 7), ("Equalize", 0.8, 8)), (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)), (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)), (("Sharpness", 0.4, 7), ("Invert", 0.6, 8)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, 9)), (("Color", 0.4, 0), ("Equalize", 0.6, 3)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Invert", 0.6, 4), ("Equalize", 1.0, 8)), (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
)


def _research_posterize(policy):
    """The "r" variants: the same policy with timm's PosterizeIncreasing for its Posterize."""
    rename = {"Posterize": "PosterizeIncreasing", "PosterizeOriginal": "PosterizeIncreasing"}
    return tuple(tuple((rename.get(name, name), p, m) for name, p, m in sub) for sub in policy)


_AUTO_POLICIES = {"v0": _V0, "v0r": _research_posterize(_V0), "original": _ORIGINAL,
                  "originalr": _research_posterize(_ORIGINAL)}

# TrivialAugment-wide (torchvision's TrivialAugmentWide): one operation per image, uniformly of
# these, at a magnitude bin drawn uniformly of 31; (operation, strongest magnitude, signed).
TRIVIAL_BINS = 31
TRIVIAL_OPS: tuple[tuple[Op, float, bool], ...] = (
    (Op.IDENTITY, 0.0, False), (Op.SHEAR_X_FACTOR, 0.99, True), (Op.SHEAR_Y_FACTOR, 0.99, True),
    (Op.TRANSLATE_X_PIXELS, 32.0, True), (Op.TRANSLATE_Y_PIXELS, 32.0, True), (Op.ROTATE_DEGREES, 135.0, True),
    (Op.BRIGHTNESS_FACTOR, 0.99, True), (Op.COLOR_FACTOR, 0.99, True), (Op.CONTRAST_FACTOR, 0.99, True),
    (Op.SHARPNESS_FACTOR, 0.99, True), (Op.POSTERIZE_BITS, 0.0, False), (Op.SOLARIZE_THRESHOLD, 0.0, False),
    (Op.AUTO_CONTRAST, 0.0, False), (Op.EQUALIZE, 0.0, False),
)


def _linspace32(start: float, end: float, index: int) -> float:
    """``torch.linspace(start, end, 31)[index]`` as torch computes it: a float32 step, the first
    15 values from the start and the rest from the end, each rounded once to float32 (a fused
    multiply-add), so that 32 px at bin 15 is 15.999999 (one pixel less once truncated)."""
    start32, end32 = float(np.float32(start)), float(np.float32(end))
    step = float(np.float32((np.float32(end) - np.float32(start)) / np.float32(TRIVIAL_BINS - 1)))
    if index < TRIVIAL_BINS // 2:
        return float(np.float32(start32 + step * index))
    return float(np.float32(end32 - step * (TRIVIAL_BINS - 1 - index)))


def trivial_parameter(op: Op, strongest: float, index: int) -> float:
    """TrivialAugment-wide's unsigned parameter of ``op`` at magnitude bin ``index`` (0..30), as
    torchvision computes it: ``linspace(0, strongest, 31)`` in float32, translations truncated to
    whole pixels, enhance factors ``1 + magnitude`` (the sign applies to the magnitude), posterize
    ``8 - round(index / 5)`` bits, solarize threshold ``linspace(255, 0, 31)``."""
    if op is Op.POSTERIZE_BITS:
        return float(8 - round(index / ((TRIVIAL_BINS - 1) / 6)))
    if op is Op.SOLARIZE_THRESHOLD:
        return _linspace32(255.0, 0.0, index)
    magnitude = _linspace32(0.0, strongest, index)
    if op in (Op.TRANSLATE_X_PIXELS, Op.TRANSLATE_Y_PIXELS):
        return float(int(magnitude))
    return magnitude


@dataclass(frozen=True)
class RandAugment:
    """timm's RandAugment: ``num_layers`` operations per image, each drawn uniformly (with
    replacement) of ``ops`` and applied with chance ``prob``, at ``magnitude`` (with noise of std
    ``magnitude_std``; inf: uniform in [0, magnitude]) clipped to [0, ``magnitude_max``]."""

    ops: tuple[Op, ...]
    num_layers: int = 2
    magnitude: float = LEVEL_DENOM
    magnitude_std: float = 0.0
    magnitude_max: float = LEVEL_DENOM
    prob: float = 0.5


@dataclass(frozen=True)
class AutoAugment:
    """timm's AutoAugment: one of ``sub_policies`` per image, uniformly; each of its
    (operation, probability, magnitude) applied with that chance, the magnitude with noise of
    std ``magnitude_std``, clipped to [0, 10]."""

    name: str
    sub_policies: tuple[tuple[tuple[Op, float, float], ...], ...]
    magnitude_std: float = 0.0


@dataclass(frozen=True)
class TrivialAugment:
    """TrivialAugment-wide: one operation of ``TRIVIAL_OPS`` per image, at a uniform magnitude
    bin, negated with chance 1/2 where signed."""


Policy = RandAugment | AutoAugment | TrivialAugment


def _refuse(text: str, part: str, why: str) -> ValueError:
    return ValueError(f"auto_augment {text!r}: {part!r}: {why}")


def _sections(text: str, sections: list[str]) -> dict[str, str]:
    """timm's numeric sections ("m9", "mstd0.5"), key -> value text; one of each at most."""
    found: dict[str, str] = {}
    for section in sections:
        parts = re.split(r"(\d.*)", section)
        if len(parts) < 2 or not parts[0]:
            raise _refuse(text, section, "expected a section such as 'm9', 'n2', 'mstd0.5', 'mmax10', 'inc1', 'p0.5'")
        key, value = parts[0], parts[1]
        if key in found:
            raise _refuse(text, section, f"'{key}' given twice")
        found[key] = value
    return found


def _number(text: str, section: str, value: str, kind: type, low: float, high: float) -> float:
    try:
        number = kind(value)
    except ValueError:
        raise _refuse(text, section, f"expected {'an integer' if kind is int else 'a number'}") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise _refuse(text, section, f"expected a value in [{low:g}, {high:g}], got {number:g}")
    return number


def _std(text: str, section: str, value: str) -> float:
    std = _number(text, section, value, float, 0.0, math.inf)
    return math.inf if std > 100 else std  # timm: above 100 means uniform in [0, m]


def _rand(text: str, sections: list[str]) -> RandAugment:
    transform_sets = [s for s in sections if s.startswith("t")]
    if transform_sets:
        raise _refuse(text, transform_sets[0], "RandAugment's transform sets ('tweights', 't3a', 't3aw': "
                      "weighted choice without replacement, blur, desaturation) are not supported")
    found = _sections(text, sections)
    unknown = [k for k in found if k not in ("m", "n", "mstd", "mmax", "inc", "p")]
    if unknown:
        raise _refuse(text, unknown[0] + found[unknown[0]], "unknown RandAugment section (expected m, n, mstd, "
                      "mmax, inc, p)")

    def get(key: str, kind: type, low: float, high: float, default: float) -> float:
        return default if key not in found else _number(text, key + found[key], found[key], kind, low, high)

    # timm: mmax0 leaves the bound at 10 ("magnitude_max or 10").
    magnitude_max = get("mmax", int, 0, 1000, 0) or LEVEL_DENOM
    magnitude = get("m", int, 0, 1000, LEVEL_DENOM)
    if magnitude > magnitude_max:
        raise _refuse(text, f"m{found['m']}", f"magnitude {magnitude:g} exceeds the upper bound {magnitude_max:g} "
                      "(timm would clip it; raise it with an 'mmax' section)")
    increasing = bool(get("inc", int, 0, 1, 0))
    names = _RAND_INCREASING if increasing else _RAND
    return RandAugment(ops=tuple(TIMM_OPS[name] for name in names), num_layers=int(get("n", int, 0, 64, 2)),
                       magnitude=float(magnitude),
                       magnitude_std=0.0 if "mstd" not in found else _std(text, "mstd" + found["mstd"], found["mstd"]),
                       magnitude_max=float(magnitude_max), prob=float(get("p", float, 0.0, 1.0, 0.5)))


def _auto(text: str, name: str, sections: list[str]) -> AutoAugment:
    found = _sections(text, sections)
    unknown = [k for k in found if k != "mstd"]
    if unknown:
        raise _refuse(text, unknown[0] + found[unknown[0]], "unknown AutoAugment section (expected mstd)")
    std = 0.0 if "mstd" not in found else _std(text, "mstd" + found["mstd"], found["mstd"])
    subs = tuple(tuple((TIMM_OPS[op], float(p), float(m)) for op, p, m in sub) for sub in _AUTO_POLICIES[name])
    return AutoAugment(name=name, sub_policies=subs, magnitude_std=std)


def parse_auto_augment(text: object) -> Policy:
    """The policy of timm's ``auto_augment`` string ``text`` (see the module's docstring);
    ``ValueError`` naming the part that is unknown, out of range or not supported."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"auto_augment: expected a policy string such as 'rand-m9-mstd0.5-inc1', 'original', "
                         f"'v0' or 'ta_wide', got {text!r}")
    head, *sections = text.split("-")
    if head == "rand":
        return _rand(text, sections)
    if head in _AUTO_POLICIES:
        return _auto(text, head, sections)
    if head == "ta_wide":
        if sections:
            raise _refuse(text, sections[0], "TrivialAugment-wide takes no sections")
        return TrivialAugment()
    if head == "augmix":
        raise _refuse(text, head, "AugMix (mixing augmented chains of one image) is not supported")
    if head == "3a":
        raise _refuse(text, head, "the '3a' policy (blur, desaturation) is not supported")
    raise _refuse(text, head, "unknown policy: expected 'rand', 'original', 'originalr', 'v0', 'v0r' or 'ta_wide'")
