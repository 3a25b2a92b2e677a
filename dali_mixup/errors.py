"""Run-time input checks inside a DALI graph, and their translation into Python errors.

The stage's operators (CPU and GPU) throw a short tag that names the check. On DALI's own
operators (``composed.py``), which have no way to raise a message of our choosing, a failed
check makes a tiny ``fn.reshape`` fail on purpose, with a requested size that encodes which
check failed (and ``num_classes``). All checks of a batch share one such reshape: each is an operator
with a fixed cost per batch. ``translate_errors`` recognises that failure in the pipeline's
``RuntimeError`` and raises ``MixInputError`` with a plain message instead.
"""

from __future__ import annotations

import contextlib
import enum
import re
from collections.abc import Iterator

from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode

# Requested volumes of a failed check start here: far from any size a real reshape asks for.
_BASE = 7_340_032
_KINDS = 8


class Check(enum.IntEnum):
    """What a run-time check verifies; the value is its code in the failing reshape."""

    LAYOUT = 1
    SAME_SHAPE = 2
    LABEL_RANGE = 3
    SOFT_LABEL_LENGTH = 4
    CHANNELS = 5
    NORMALIZE_CHANNELS = 6
    EMPTY = 7


_MESSAGES = {
    Check.LAYOUT: "images must have layout 'HWC' or 'CHW' (3 dimensions); sample {sample} has "
    "another layout or none: set it on the DataNode or pass layout='HWC' or 'CHW' to mix() or normalize()",
    Check.SAME_SHAPE: "all images in a batch must have the same shape, but sample {sample} differs "
    "from sample 0: resize or crop them to one size before mixing",
    Check.CHANNELS: "CutMix on CHW images takes at most 4 channels; sample {sample} has more: "
    "mix HWC images instead",
    Check.NORMALIZE_CHANNELS: "sample {sample} has another number of channels than Normalize "
    "has mean and std values",
    Check.EMPTY: "sample {sample} is empty (a side or the channels have size 0)",
    Check.LABEL_RANGE: "the class id of sample {sample}, rounded, is outside [0, num_classes={num_classes})",
    Check.SOFT_LABEL_LENGTH: "the label of sample {sample} is neither a class id nor a vector of "
    "length num_classes={num_classes}",
}


class MixInputError(ValueError):
    """A batch that the stage's operators cannot take: wrong layout, type, ragged shapes or bad
    labels for mixing; a wrong layout, type or an empty image, or a bad per-sample argument, for
    ``resample.resize``, ``augment`` and ``erasing``."""


# The most classes a failed check can encode in int32 with the largest check code.
MAX_CLASSES = ((2**31 - 2) // max(Check) - 1) // _KINDS - _BASE


def guard(code: DataNode, *, num_classes: int = 0) -> DataNode:
    """Return a float32 scalar 0 per sample (CPU) that makes the pipeline fail where ``code``
    (CPU int32 scalar per sample: 0, or the value of the failed ``Check``) is not 0.

    Add the result to a value the outputs depend on, so that DALI neither prunes the check
    nor runs the outputs without it.
    """
    if num_classes > MAX_CLASSES:
        raise ValueError(f"mix: num_classes: on DALI's operators (images on a device without "
                         f"the stage's operator) at most {MAX_CLASSES:,}, got {num_classes:,}")
    requested = 1 + code * (1 + _KINDS * (_BASE + num_classes))
    token = fn.reshape(fn.cast(code, dtype=types.FLOAT) * 0.0, shape=fn.stack(requested))
    return fn.reshape(token, shape=[])


_REQUESTED = re.compile(r"Requested volume:\s*(\d+)")
# What the stage's operators (csrc/) throw.
_FUSED = re.compile(r"\[dali_mixup check=(\d+) sample=(\d+) num_classes=(\d+)\]")
# "[dali_mixup OP: ARGUMENT: text]" from an operator other than the mixing stage's (resize,
# augment, erase), "[dali_mixup ARGUMENT: text]" from the stage's.
_FUSED_TYPE = re.compile(r"\[dali_mixup ((?:(resize|augment|erase): )?[a-z_]+: [^\]]*)\]")
_SAMPLE = re.compile(r"Sample index:\s*(\d+)")


_HALF = re.compile(r"(data type not supported, DALIDataType|Unsupported input type): float16")


def _failed(kind: int, sample: int | str, num_classes: int) -> MixInputError:
    return MixInputError(f"mix: {_MESSAGES[Check(kind)].format(sample=sample, num_classes=num_classes)}")


def explain(error: BaseException) -> MixInputError | None:
    """The ``MixInputError`` a failed check caused, or None for any other error."""
    text = str(error)
    if _HALF.search(text) and "dali_mixup" in text:
        return MixInputError("mix: the images are float16: pass dtype=types.FLOAT16 to mix() "
                             "(the stage then blends in float32 and returns float16)")
    fused = _FUSED.search(text)
    if fused is not None and int(fused.group(1)) in _MESSAGES:
        return _failed(*(int(g) for g in fused.groups()))
    fused_type = _FUSED_TYPE.search(text)
    if fused_type is not None:
        what, op = fused_type.group(1), fused_type.group(2)
        return MixInputError(what if op else f"mix: {what}")
    requested, sample = _REQUESTED.search(text), _SAMPLE.search(text)
    if "fn.reshape" not in text or requested is None or sample is None:
        return None
    # requested - 1 == kind * (1 + _KINDS * (_BASE + num_classes)), 0 < kind < _KINDS: exact
    # in int32 up to about 31 million classes.
    encoded = int(requested.group(1)) - 1
    kind = encoded % _KINDS
    if kind not in _MESSAGES or encoded % kind:
        return None
    num_classes = (encoded // kind - 1) // _KINDS - _BASE
    if num_classes < 0:
        return None
    return _failed(kind, sample.group(1), num_classes)


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn a failed run-time check of the mixing stage into ``MixInputError``.

    Wrap ``pipe.run()`` or iteration over a DALI iterator with it; other errors pass unchanged.
    """
    try:
        yield
    except RuntimeError as error:
        translated = explain(error)
        if translated is None:
            raise
        raise translated from None
