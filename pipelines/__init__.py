"""Ready-made DALI pipelines for image classification, with the mixing stage built in."""

from .badfiles import BadFile, BadFileError, find_bad_files
from .output import IMAGENET_MEAN, IMAGENET_STD
from .sources import (FileSource, Source, WebDatasetSource, file_list, image_folder, open_source,
                      webdataset)
from .spec import PipelineSpec
from .train import train_pipeline
from .val import val_pipeline

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BadFile",
    "BadFileError",
    "FileSource",
    "PipelineSpec",
    "Source",
    "WebDatasetSource",
    "file_list",
    "find_bad_files",
    "image_folder",
    "open_source",
    "train_pipeline",
    "val_pipeline",
    "webdataset",
]
