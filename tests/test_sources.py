"""Finding and checking data sets: image folders, file lists, WebDataset shards."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from nvidia.dali import Pipeline

from pipelines import FileSource, WebDatasetSource, file_list, image_folder, open_source, webdataset


def test_image_folder_labels_follow_sorted_class_names(tmp_path: Path) -> None:
    for cls, names in {"zebra": ["b.JPG", "a.png"], "ant": ["x.jpeg"], "mole": ["n/deep.png"]}.items():
        for name in names:
            (tmp_path / cls / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / cls / name).write_bytes(b"")
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    (tmp_path / "ant" / ".hidden.jpg").write_bytes(b"")

    source = image_folder(tmp_path)

    assert source.classes == ("ant", "mole", "zebra")
    assert [(Path(f).relative_to(tmp_path).as_posix(), label)
            for f, label in zip(source.files, source.labels)] == [
        ("ant/x.jpeg", 0), ("mole/n/deep.png", 1), ("zebra/a.png", 2), ("zebra/b.JPG", 2)]
    assert (source.num_samples, source.num_classes) == (4, 3)


def test_file_list_resolves_paths_from_its_folder_or_root(tmp_path: Path) -> None:
    (tmp_path / "data" / "with space").mkdir(parents=True)
    (tmp_path / "data" / "with space" / "a b.png").write_bytes(b"")
    (tmp_path / "abs.png").write_bytes(b"")
    listing = tmp_path / "data" / "list.txt"
    listing.write_text(f"with space/a b.png 3\n\n{tmp_path / 'abs.png'}\t0\n")

    source = file_list(listing)

    assert source.files == (str(tmp_path / "data" / "with space" / "a b.png"), str(tmp_path / "abs.png"))
    assert source.labels == (3, 0)
    assert (source.classes, source.num_classes) == (None, 4)
    elsewhere = tmp_path / "list2.txt"
    elsewhere.write_text("with space/a b.png 1\n")
    assert file_list(elsewhere, root=tmp_path / "data").files == source.files[:1]


def test_webdataset_counts_samples_and_classes(make_webdataset) -> None:
    root = make_webdataset(5, shards=2, labels=[4, 0, 7, 1, 2])

    from_folder = webdataset(root)
    from_list = webdataset(sorted(root.iterdir()))

    assert from_folder == from_list
    assert (from_folder.num_samples, from_folder.num_classes) == (5, 8)
    assert [Path(p).name for p in from_folder.paths] == ["shard-000.tar", "shard-001.tar"]


def test_webdataset_class_ids_are_parsed_in_the_graph(tmp_path: Path, tar_writer) -> None:
    texts = [b"0", b"7", b"12\n", b"305 ", b"123456789", b"42\r\n"]
    tar = tar_writer(tmp_path / "s.tar", [m for i, t in enumerate(texts)
                                          for m in ((f"k{i}.jpg", b"\xff"), (f"k{i}.cls", t))])
    source = webdataset(tar)
    pipe = Pipeline(batch_size=len(texts), num_threads=1, device_id=None)
    with pipe:
        _, labels = source.read(name="r", shard_id=0, num_shards=1, shuffle_seed=None)
        pipe.set_outputs(labels)
    (out,) = pipe.run()

    assert [np.asarray(t).tolist() for t in out] == [[int(t)] for t in texts]


@pytest.mark.parametrize("make, kind", [
    (lambda f, fl, wd: f([2, 1]), FileSource),
    (lambda f, fl, wd: fl(3), FileSource),
    (lambda f, fl, wd: wd(3), WebDatasetSource),
    (lambda f, fl, wd: next(wd(3).iterdir()), WebDatasetSource),
])
def test_open_source_recognises_each_kind(make, kind, make_image_folder, make_file_list,
                                          make_webdataset) -> None:
    path = make(make_image_folder, make_file_list, make_webdataset)
    assert isinstance(open_source(path), kind)
    assert isinstance(open_source(str(path)), kind)


def test_open_source_passes_a_source_through(make_file_list) -> None:
    source = file_list(make_file_list(2))
    assert open_source(source) is source


# ------------------------------------------------------------------ errors


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"data source '.*nowhere' does not exist"):
        open_source(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"image folder '.*nowhere' does not exist"):
        image_folder(tmp_path / "nowhere")


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"data folder '.*' is empty: expected one sub-folder of "
                                         r"images per class, or WebDataset \.tar shards"):
        open_source(tmp_path)


def test_folder_of_loose_images_has_no_classes(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"image folder '.*' has no class sub-folders"):
        open_source(tmp_path)


def test_class_folder_without_images(make_image_folder) -> None:
    root = make_image_folder([1, 1])
    (root / "c2").mkdir()
    (root / "c2" / "readme.txt").write_text("no images here")
    (root / "c3").mkdir()
    with pytest.raises(ValueError, match=r"class folder\(s\) 'c2', 'c3' contain no images: "
                                         r"expected files ending in \.jpg, \.jpeg, \.png"):
        open_source(root)


def test_file_list_naming_missing_files(tmp_path: Path) -> None:
    (tmp_path / "here.png").write_bytes(b"")
    names = ["here.png"] + [f"gone{i}.png" for i in range(7)]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{n} 0\n" for n in names))
    with pytest.raises(FileNotFoundError, match=r"file list '.*list\.txt' names 7 missing file\(s\): "
                                                r"'.*gone0\.png' \(line 2\), .*'.*gone4\.png' \(line 6\) "
                                                r"and 2 more"):
        open_source(listing)


@pytest.mark.parametrize("line", ["just-a-path.png", "a.png -1", "a.png cat"])
def test_file_list_bad_line(tmp_path: Path, line: str) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"\n{line}\n")
    with pytest.raises(ValueError, match=rf"file list '.*', line 2: expected 'path label' with an "
                                         rf"integer label >= 0, got '{line}'"):
        file_list(listing)


def test_file_list_empty(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("\n \n")
    with pytest.raises(ValueError, match=r"file list '.*' is empty: expected one 'path label' line"):
        file_list(listing)


def test_file_list_root_missing(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("a.png 0\n")
    with pytest.raises(FileNotFoundError, match=r"root '.*nowhere' does not exist"):
        file_list(listing, root=tmp_path / "nowhere")


def test_webdataset_sample_without_class(tmp_path: Path, tar_writer) -> None:
    tar = tar_writer(tmp_path / "s.tar", [("a.jpg", b"x"), ("a.cls", b"1"), ("b.jpg", b"x"), ("b.json", b"{}")])
    with pytest.raises(ValueError, match=r"shard '.*s\.tar': sample 'b' has entries \['jpg', 'json'\]: "
                                         r"expected an image \(jpeg, jpg, png\) and a 'cls' entry"):
        webdataset(tar)


@pytest.mark.parametrize("text", [b"cat", b"", b"-1", b"1234567890"])
def test_webdataset_unreadable_class(tmp_path: Path, tar_writer, text: bytes) -> None:
    tar = tar_writer(tmp_path / "s.tar", [("a.jpg", b"x"), ("a.cls", text)])
    with pytest.raises(ValueError, match=r"sample 'a' has a 'cls' entry .*: expected a class id of "
                                         r"1 to 9 ASCII digits"):
        webdataset(tar)


def test_webdataset_not_a_tar(tmp_path: Path) -> None:
    (tmp_path / "s.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ValueError, match=r"shard '.*s\.tar' is not a readable tar file"):
        open_source(tmp_path / "s.tar")


def test_webdataset_missing_and_empty(tmp_path: Path, tar_writer) -> None:
    with pytest.raises(FileNotFoundError, match=r"webdataset shard '.*gone\.tar' does not exist"):
        webdataset([tmp_path / "gone.tar"])
    with pytest.raises(ValueError, match=r"expected at least one \.tar shard, got an empty list"):
        webdataset([])
    tar_writer(tmp_path / "empty.tar", [])
    with pytest.raises(ValueError, match=r"shard\(s\) .*empty\.tar contain no samples"):
        webdataset(tmp_path / "empty.tar")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match=r"webdataset folder '.*sub' has no \.tar shards"):
        webdataset(tmp_path / "sub")


def test_file_source_checks_its_labels() -> None:
    with pytest.raises(ValueError, match=r"FileSource: expected one label per file and at least one "
                                         r"file, got 2 files and 1 labels"):
        FileSource(files=("a", "b"), labels=(0,))
    with pytest.raises(ValueError, match=r"FileSource: labels must be class ids in \[0, 2\), got 0 to 2"):
        FileSource(files=("a", "b"), labels=(0, 2), classes=("x", "y"))


def test_open_source_wrong_type() -> None:
    with pytest.raises(TypeError, match=r"source: expected a path .*, got int"):
        open_source(3)


def test_symlinked_class_folder_is_followed(make_image_folder, tmp_path: Path) -> None:
    root = make_image_folder([2], name="real")
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(root / "c0", linked / "c0")
    assert image_folder(linked).num_samples == 2
