"""timm's ``train.py`` arguments -> ``train_pipeline``'s options, without importing timm:

    spec = train_pipeline(data, batch_size=args.batch_size, **from_timm_args(args))

``args``: the ``argparse.Namespace`` timm's ``train.py`` parses (any object with its attribute
names; an attribute missing takes timm's default). Options timm has and this package does not
do are refused with a ``ValueError`` naming timm's flag, unless they are at timm's default.
"""

from __future__ import annotations

from typing import Any

from dali_mixup import MixConfig
from dali_mixup.resample import INTERPOLATIONS

# timm's train.py defaults, for attributes an older or trimmed namespace lacks.
_DEFAULTS: dict[str, Any] = {
    "mixup": 0.0, "cutmix": 0.0, "cutmix_minmax": None, "mixup_prob": 1.0, "mixup_switch_prob": 0.5,
    "mixup_mode": "batch", "smoothing": 0.1, "num_classes": None, "aa": None, "reprob": 0.0,
    "remode": "pixel", "recount": 1, "color_jitter": 0.4, "train_interpolation": "random",
    "scale": [0.08, 1.0], "ratio": [3 / 4, 4 / 3], "hflip": 0.5,
}
# timm options with no counterpart here, each with the value that means "off".
_UNSUPPORTED: dict[str, tuple[str, Any]] = {
    "no_aug": ("--no-aug", False), "vflip": ("--vflip", 0.0), "aug_splits": ("--aug-splits", 0),
    "jsd_loss": ("--jsd-loss", False), "resplit": ("--resplit", False), "aug_repeats": ("--aug-repeats", 0),
    "color_jitter_prob": ("--color-jitter-prob", None), "grayscale_prob": ("--grayscale-prob", 0.0),
    "gaussian_blur_prob": ("--gaussian-blur-prob", 0.0), "train_crop_mode": ("--train-crop-mode", None),
}


def _get(args: object, name: str) -> Any:
    return getattr(args, name, _DEFAULTS[name])


def from_timm_args(args: object) -> dict[str, Any]:
    """``train_pipeline`` keyword options equal to what timm's ``train.py`` builds from ``args``:
    ``mix`` (a ``MixConfig`` from ``--mixup``, ``--cutmix``, ``--cutmix-minmax``, ``--mixup-prob``,
    ``--mixup-switch-prob``, ``--mixup-mode``, ``--smoothing``, ``--num-classes``; None where timm
    mixes nothing), ``scale``, ``ratio``, ``hflip``, ``interpolation`` (``--train-interpolation``),
    ``auto_augment`` (``--aa``), ``color_jitter`` (``--color-jitter``, None where an auto-augment
    policy turns it off, as timm does), ``re_prob``, ``re_mode``, ``re_count``, and
    ``image_size``/``mean``/``std`` where ``args`` sets ``input_size`` or ``img_size``, ``mean``, ``std``.
    ``--mixup-off-epoch`` belongs to ``DALILoader(mixup_off_epoch=...)``."""
    for name, (flag, off) in _UNSUPPORTED.items():
        value = getattr(args, name, off)
        if value != off and not (name == "train_crop_mode" and value == "rrc"):
            raise ValueError(f"{flag}: not supported by train_pipeline (got {value!r}; timm's default is {off!r})")
    interpolation = _get(args, "train_interpolation")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"--train-interpolation: expected one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    options: dict[str, Any] = {
        "scale": tuple(_get(args, "scale")), "ratio": tuple(_get(args, "ratio")), "hflip": _get(args, "hflip"),
        "interpolation": interpolation, "auto_augment": _get(args, "aa") or None,
        "re_prob": _get(args, "reprob"), "re_mode": _get(args, "remode"), "re_count": _get(args, "recount"),
        "mix": _mix_config(args),
    }
    # timm turns colour jitter off where an auto-augment policy is on (its '3a' policy aside,
    # which is refused anyway).
    jitter = _get(args, "color_jitter")
    options["color_jitter"] = None if options["auto_augment"] or not jitter else jitter
    options.update(_image_options(args))
    return options


def _image_options(args: object) -> dict[str, Any]:
    """``image_size`` from ``--input-size`` (C H W, square) or ``--img-size``; ``mean``/``std``."""
    interpolation = _get(args, "train_interpolation")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"--train-interpolation: expected one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    options: dict[str, Any] = {}
    size = getattr(args, "input_size", None)
    if size is not None:
        if len(size) != 3 or size[1] != size[2]:
            raise ValueError(f"--input-size: expected C H W with H == W (square crops), got {size!r}")
        options["image_size"] = size[2]
    elif getattr(args, "img_size", None) is not None:
        options["image_size"] = args.img_size
    for name in ("mean", "std"):
        if getattr(args, name, None) is not None:
            options[name] = tuple(getattr(args, name))
    return options


def _mix_config(args: object) -> MixConfig | None:
    minmax = _get(args, "cutmix_minmax")
    if not (_get(args, "mixup") > 0 or _get(args, "cutmix") > 0 or minmax is not None):
        return None  # timm's mixup_active
    num_classes = _get(args, "num_classes")
    if num_classes is None:
        raise ValueError("--num-classes: timm takes it from the model where it is not given; "
                         "give it for mixing (the targets' length)")
    return MixConfig(mixup_alpha=_get(args, "mixup"), cutmix_alpha=_get(args, "cutmix"),
                     cutmix_minmax=None if minmax is None else tuple(minmax), prob=_get(args, "mixup_prob"),
                     switch_prob=_get(args, "mixup_switch_prob"), mode=_get(args, "mixup_mode"),
                     label_smoothing=_get(args, "smoothing"), num_classes=num_classes)
