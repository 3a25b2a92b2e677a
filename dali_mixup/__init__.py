"""Mixup and CutMix inside NVIDIA DALI pipelines."""

try:
    import nvidia.dali  # noqa: F401  (an extra of this package: one of two CUDA flavours)
except ModuleNotFoundError as error:
    if error.name not in ("nvidia", "nvidia.dali"):
        raise
    raise ImportError("dali_mixup needs NVIDIA DALI: install dali-mixup[cu12] (DALI for CUDA 12) or "
                      "dali-mixup[cu13] (DALI for CUDA 13, NVIDIA driver 580 or newer)") from error

from .augment import Augmentation, ColorJitter, augment
from .config import MixConfig, Mode, Normalize
from .erasing import Erasing, random_erasing
from .errors import MixInputError, translate_errors
from .loader import DALILoader
from .normalization import normalize
from .params import MixParams
from .policy import parse_auto_augment
from .stage import cutmix, mix, mixup

__all__ = [
    "Augmentation",
    "ColorJitter",
    "DALILoader",
    "Erasing",
    "MixConfig",
    "MixInputError",
    "MixParams",
    "Mode",
    "Normalize",
    "augment",
    "cutmix",
    "mix",
    "mixup",
    "normalize",
    "parse_auto_augment",
    "random_erasing",
    "translate_errors",
]
