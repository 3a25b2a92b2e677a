"""Mixup and CutMix inside NVIDIA DALI pipelines."""

from .config import MixConfig, Mode, Normalize
from .errors import MixInputError, translate_errors
from .loader import DALILoader
from .normalization import normalize
from .params import MixParams
from .stage import cutmix, mix, mixup

__all__ = [
    "DALILoader",
    "MixConfig",
    "MixInputError",
    "MixParams",
    "Mode",
    "Normalize",
    "cutmix",
    "mix",
    "mixup",
    "normalize",
    "translate_errors",
]
