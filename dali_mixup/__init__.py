"""Mixup and CutMix inside NVIDIA DALI pipelines."""

try:
    import nvidia.dali  # noqa: F401  (an extra of this package: one of two CUDA flavours)
except ModuleNotFoundError as error:
    if error.name not in ("nvidia", "nvidia.dali"):
        raise
    raise ImportError("dali_mixup needs NVIDIA DALI: install dali-mixup[cu12] (DALI for CUDA 12) or "
                      "dali-mixup[cu13] (DALI for CUDA 13, NVIDIA driver 580 or newer)") from error

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
