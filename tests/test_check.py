"""``dali-mixup check DATA``: every image that will not decode, with its reason; exit 1 then."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import bad_images, odd_images

from dali_mixup.cli import main


def listed(stdout: str) -> dict[str, str]:
    """Printed ``path: reason`` lines as file (or tar entry) name -> reason."""
    found = {}
    for line in stdout.splitlines():
        path, reason = line.split(": ", 1)
        found[re.sub(r".*[/\[]", "", path).rstrip("]")] = reason
    return found


def test_image_folder_lists_every_bad_image_with_its_reason(make_corpus, capsys) -> None:
    root = make_corpus()
    assert main(["check", str(root)]) == 1
    out, err = capsys.readouterr()
    found = listed(out)
    assert sorted(found) == sorted([*bad_images(), "dangling.jpg"])
    for name, (_, reason) in bad_images().items():
        assert re.fullmatch(rf"{reason}( \(.*\))?", found[name]), (name, found[name])
    assert out.splitlines()[0].startswith(str(root / "bad"))  # full paths, in the data set's order
    total = len(bad_images()) + 1 + len(odd_images()) + 1
    assert err.strip().endswith(f"{len(found)} of {total} images will not decode")


def test_file_list_and_shards(make_file_list, tmp_path: Path, tar_writer, capsys) -> None:
    listing = make_file_list(3)
    assert main(["check", str(listing), "--threads", "1"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.strip().endswith("all 3 images decode")

    truncated = bad_images()["truncated.png"][0]
    tar = tar_writer(tmp_path / "s.tar", [("a.png", odd_images()["rgb.png"]), ("a.cls", b"0"),
                                          ("b.png", truncated), ("b.cls", b"1")])
    assert main(["check", str(tar)]) == 1
    assert capsys.readouterr().out == f"{tar}[b.png]: truncated PNG: the end chunk (IEND) is missing\n"


def test_python_dash_m_exits_1_on_bad_images(make_corpus) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-m", "dali_mixup", "check", str(make_corpus()), "--no-progress"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr[-3000:]
    assert len(run.stdout.splitlines()) == len(bad_images()) + 1


@pytest.mark.parametrize("args, message", [
    (["{missing}"], r"dali-mixup check: error: data source '.*missing' does not exist"),
    (["{data}", "--threads", "0"], r"dali-mixup check: error: --threads: expected an integer >= 1, got 0"),
    (["{data}/c0"], r"dali-mixup check: error: image folder '.*c0' has no class sub-folders: .*"),
])
def test_bad_arguments_exit_2_with_a_message(make_image_folder, tmp_path: Path, capsys, args, message) -> None:
    data = make_image_folder([1])
    with pytest.raises(SystemExit) as exit_info:
        main(["check", *(a.format(missing=tmp_path / "missing", data=data) for a in args)])
    assert exit_info.value.code == 2
    assert re.fullmatch(message, capsys.readouterr().err.strip())
