"""``dali-mixup preview``: a captioned grid of mixed training samples."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dali_mixup.cli import main
from dali_mixup.preview import CAPTION_HEIGHT, caption

RED, BLUE = (255, 0, 0), (0, 0, 255)


def red_or_blue(index: int, label: int) -> np.ndarray:
    return np.broadcast_to(np.array((RED, BLUE)[label], np.uint8), (40, 40, 3)).copy()


def test_grid_has_the_layout_size_mixed_tiles_and_captions(make_image_folder, tmp_path: Path) -> None:
    data = make_image_folder([4, 4], pixels=red_or_blue)
    out = tmp_path / "grid.png"

    status = main(["preview", str(data), "--out", str(out), "--num-images", "6", "--columns", "3",
                   "--image-size", "32", "--mixup", "1.0", "--cutmix", "1.0", "--mixup-mode", "elem",
                   "--smoothing", "0"])

    assert status == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    tile = 32 + CAPTION_HEIGHT
    assert grid.shape == (2 * tile, 3 * 32, 3)
    mixed = 0
    for row in range(2):
        for col in range(3):
            image = grid[row * tile:row * tile + 32, col * 32:(col + 1) * 32].reshape(-1, 3)
            band = grid[row * tile + 32:(row + 1) * tile, col * 32:(col + 1) * 32]
            assert (band.max(axis=2) < 100).sum() > 20  # dark caption text on white
            mixed += {tuple(c) for c in np.unique(image, axis=0)} not in ({RED}, {BLUE})
    assert mixed > 0


def test_caption_names_the_two_largest_weights() -> None:
    weights = np.array([0.1, 0.6, 0.3], np.float32)
    assert caption(weights, ("ant", "bee", "cat")) == ["0.60 bee", "0.30 cat"]
    assert caption(weights, None) == ["0.60 1", "0.30 2"]


def test_python_dash_m_writes_the_png(make_image_folder, tmp_path: Path) -> None:
    data = make_image_folder([2, 2])
    out = tmp_path / "grid.png"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-m", "dali_mixup", "preview", str(data), "--out", str(out),
                          "--num-images", "4", "--image-size", "24"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == f"wrote {out} (48 x {2 * (24 + CAPTION_HEIGHT)} pixels)"
    assert Image.open(out).size == (48, 2 * (24 + CAPTION_HEIGHT))


@pytest.mark.parametrize("args, message", [
    (["{missing}"], r"dali-mixup preview: error: data source '.*missing' does not exist"),
    (["{data}", "--num-images", "0"], r"dali-mixup preview: error: num_images: expected an integer >= 1, got 0"),
    (["{data}", "--mixup-prob", "2"], r"dali-mixup preview: error: MixConfig\.prob: expected a number in \[0, 1\], got 2\.0"),
])
def test_bad_arguments_exit_2_with_a_message(make_image_folder, tmp_path: Path, capsys, args, message) -> None:
    data = make_image_folder([1, 1])
    argv = [a.format(missing=tmp_path / "missing", data=data) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        main(["preview", *argv, "--out", str(tmp_path / "grid.png")])
    assert exit_info.value.code == 2
    assert re.fullmatch(message, capsys.readouterr().err.strip())
    assert not (tmp_path / "grid.png").exists()
