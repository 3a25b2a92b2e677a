"""Importing the benchmark scripts from tests: benchmarks/ is a package of scripts at the
repository root, not an installed one."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def load_benchmark(name: str) -> ModuleType:
    """The module ``benchmarks.<name>``."""
    return importlib.import_module(f"benchmarks.{name}")
