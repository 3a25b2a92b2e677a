"""Odd and bad images: the odd ones are trained on as RGB; every bad one is named with its
reason, stopping the run by default or left out with ``skip_bad_files=True``."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import HEADER_VISIBLE, bad_images, odd_images
from PIL import Image

from dali_mixup import DALILoader
from pipelines import BadFileError, find_bad_files, image_folder, open_source, train_pipeline, val_pipeline
from pipelines import badfiles, scan_cache
from pipelines.blobs import Blob

PIXELS = {"mean": (0.0, 0.0, 0.0), "std": (1 / 255,) * 3}  # normalization that keeps 0..255 values


def reasons(bad_files) -> dict[str, str]:
    """File (or tar entry) name -> reason."""
    return {Path(b.blob.member or b.blob.path).name: b.reason for b in bad_files}


def assert_reasons(found: dict[str, str], names) -> None:
    expected = {name: reason for name, (_, reason) in bad_images().items()}
    expected["dangling.jpg"] = r"broken symbolic link to '.*nowhere\.jpg'"
    assert sorted(found) == sorted(names)
    for name in names:
        assert re.fullmatch(expected[name], found[name]) or re.match(expected[name] + r" \(", found[name]), \
            (name, found[name])


def write_list(tmp_path: Path, files: list[Path]) -> Path:
    """A file list naming ``files`` with class id = position: the label names the file."""
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{f} {i}\n" for i, f in enumerate(files)))
    return listing


def epoch_labels(loader: DALILoader) -> list[int]:
    return [y for _, labels in loader for y in labels.tolist()]


# ------------------------------------------------------------------ odd but valid images


def test_odd_images_are_read_once_each_and_decoded_as_rgb(make_corpus) -> None:
    root = make_corpus(bad=False)
    source = open_source(root)
    names = sorted(Path(f).name for f in source.files)
    assert names == sorted([*odd_images(), "link.png"])  # notes.txt is not a sample

    images, _ = (torch.cat(t) for t in zip(*DALILoader(val_pipeline(
        root, batch_size=5, image_size=24, crop_pct=1.0, **PIXELS))))
    for file, image in zip(source.files, images.permute(0, 2, 3, 1).numpy()):
        decoded = Image.open(file)
        if decoded.mode == "I;16":  # decoders scale 16-bit samples to 8 bits
            expected = np.round(np.asarray(decoded, np.float64) / 257)[..., None].repeat(3, axis=2)
        else:
            expected = np.asarray(decoded.convert("RGB"), np.float64)
        if expected.shape[:2] == (1, 1):  # upscaled: every pixel is the one pixel
            expected = np.broadcast_to(expected, (24, 24, 3))
        else:
            expected = expected[:, 4:28]  # 24 x 32, centre crop 24
        np.testing.assert_allclose(image, expected, atol=1e-3, err_msg=Path(file).name)


def test_odd_images_are_trained_on(make_corpus) -> None:
    loader = DALILoader(train_pipeline(make_corpus(bad=False), batch_size=4, image_size=16))
    for _ in range(2):
        batches = list(loader)
        assert sum(len(labels) for _, labels in batches) == len(odd_images()) + 1
        assert all(images.shape[1:] == (3, 16, 16) and torch.isfinite(images).all()
                   for images, _ in batches)


def test_a_very_large_image_is_decoded(tmp_path: Path) -> None:
    (tmp_path / "large" / "c0").mkdir(parents=True)
    Image.new("RGB", (8000, 6000), (200, 40, 90)).save(tmp_path / "large" / "c0" / "a.jpg", quality=90)
    images, labels = next(iter(DALILoader(train_pipeline(tmp_path / "large", batch_size=1, image_size=16,
                                                         **PIXELS))))
    assert labels.tolist() == [0]
    np.testing.assert_allclose(images[0].permute(1, 2, 0).numpy(), np.broadcast_to((200, 40, 90), (16, 16, 3)),
                               atol=3)


def test_a_symbolic_link_loop_is_entered_once(make_image_folder) -> None:
    root = make_image_folder([2])
    (root / "c0" / "again").symlink_to(root / "c0")
    assert [Path(f).name for f in image_folder(root).files] == ["0000.png", "0001.png"]


# ------------------------------------------------------------------ bad images: stop or skip


def test_bad_images_stop_before_reading_naming_each_file_and_reason(make_corpus) -> None:
    root = make_corpus()
    with pytest.raises(BadFileError, match=r"^7 image\(s\) of the data set will not decode:\n") as info:
        train_pipeline(root, batch_size=4)
    found = reasons(info.value.bad_files)
    assert_reasons(found, [*HEADER_VISIBLE, "dangling.jpg"])
    message = str(info.value)
    for name, reason in found.items():
        assert f"\n  {root / 'bad' / name}: {reason}\n" in message
    assert message.endswith("pass skip_bad_files=True to leave them out ('python -m dali_mixup "
                            "check DATA' lists them all)")


def test_skip_bad_files_reads_every_good_image_once_and_warns_naming_each_bad_one(
        make_corpus, tmp_path: Path, caplog) -> None:
    root = make_corpus()
    files = sorted(p for p in (root / "odd").iterdir() if p.suffix != ".txt")
    bad = sorted(p for p in (root / "bad").iterdir() if p.name != "dangling.jpg")
    listing = write_list(tmp_path, files + bad)  # labels 0.. for the odd files, then the bad ones
    with caplog.at_level(logging.WARNING, logger="pipelines"):
        spec = train_pipeline(listing, batch_size=4, image_size=8, skip_bad_files=True)

    (record,) = caplog.records
    assert record.getMessage().startswith(f"leaving out {len(bad)} image(s) that will not decode:\n")
    for path, reason in zip(bad, [bad_images()[p.name][1] for p in bad]):
        assert re.search(rf"\n  {re.escape(str(path))}: {reason}", record.getMessage())
    loader = DALILoader(spec)
    for _ in range(2):
        assert sorted(epoch_labels(loader)) == list(range(len(files)))


@pytest.mark.parametrize("skip", [False, True])
def test_webdataset_bad_entries_are_named_and_skipped(tmp_path: Path, tar_writer, skip) -> None:
    odd, bad = odd_images(), bad_images()
    images = [odd["rgb.png"], bad["truncated.jpg"][0], odd["cmyk.jpg"], odd["gray.jpg"],
              bad["empty.jpg"][0], odd["rgba.png"], odd["progressive.jpg"]]
    (tmp_path / "shards").mkdir()
    for shard in range(2):  # samples 0-3 in shard 0, 4-6 in shard 1
        tar_writer(tmp_path / "shards" / f"shard-{shard}.tar",
                   [m for i in range(4 * shard, min(7, 4 * shard + 4))
                    for m in ((f"s{i}.jpg", images[i]), (f"s{i}.cls", str(i).encode()))])
    if not skip:
        with pytest.raises(BadFileError, match=r"2 image\(s\) .*\n  .*shard-0\.tar\[s1\.jpg\]: truncated JPEG: "
                                               r"the end-of-image marker \(ffd9\) is missing\n  .*shard-1\.tar"
                                               r"\[s4\.jpg\]: empty file \(0 bytes\)\n"):
            val_pipeline(tmp_path / "shards", batch_size=2)
        return
    loaders = [DALILoader(train_pipeline(tmp_path / "shards", batch_size=2, image_size=8, shard_id=rank,
                                         num_shards=2, skip_bad_files=True)) for rank in range(2)]
    for _ in range(2):
        first, second = (epoch_labels(loader) for loader in loaders)
        assert sorted(first + second) == [0, 2, 3, 5, 6] and not set(first) & set(second)


def test_skipping_every_image_leaves_nothing_to_read(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    listing = write_list(tmp_path, [tmp_path / "a.jpg"])
    with pytest.raises(ValueError, match=r"all 1 images of the data set will not decode: nothing is left"):
        train_pipeline(listing, batch_size=2, skip_bad_files=True)


def test_skip_bad_files_must_be_a_bool(make_file_list) -> None:
    with pytest.raises(TypeError, match=r"skip_bad_files: expected a bool, got 'yes'"):
        val_pipeline(make_file_list(2), batch_size=2, skip_bad_files="yes")


# ------------------------------------------------------------------ bad images found while reading


@pytest.mark.parametrize("kind", ["file_list", "webdataset"])
def test_an_image_only_the_decoder_rejects_stops_the_loader_naming_it(tmp_path: Path, tar_writer,
                                                                       kind, caplog) -> None:
    # A broken Huffman table passes the header scan: DALI stops on it in the first epoch.
    good, huffman = odd_images()["rgb.png"], bad_images()["huffman.jpg"][0]
    if kind == "file_list":
        for i, data in enumerate([good, huffman, good]):
            (tmp_path / f"{i}.jpg").write_bytes(data)
        data, culprit = write_list(tmp_path, [tmp_path / f"{i}.jpg" for i in range(3)]), "1.jpg"
    else:
        data = tar_writer(tmp_path / "s.tar", [m for i, d in enumerate([good, huffman, good])
                                               for m in ((f"k{i}.jpg", d), (f"k{i}.cls", b"0"))])
        culprit = "s.tar[k1.jpg]"
    loader = DALILoader(train_pipeline(data, batch_size=3, image_size=8))
    with caplog.at_level(logging.WARNING, logger="pipelines"), \
            pytest.raises(BadFileError, match=rf"^1 image\(s\) of the data set will not decode:\n  \S*"
                                              rf"{re.escape(culprit)}: corrupt or truncated image data: "
                                              r"the decoder stops partway"):
        list(loader)
    # DALI names a file it reads itself; a tar entry is found by decoding the data set.
    assert ("decoding every image of the data set to name it" in caplog.text) == (kind == "webdataset")


def test_an_image_broken_after_the_pipeline_was_built_is_named(make_file_list, tmp_path: Path) -> None:
    spec = val_pipeline(make_file_list(4), batch_size=2)
    (tmp_path / "images" / "0002.png").write_bytes(b"")
    with pytest.raises(BadFileError, match=r"\n  .*images/0002\.png: empty file \(0 bytes\)\n"):
        list(DALILoader(spec))


# ------------------------------------------------------------------ the scans


def test_the_decode_scan_finds_what_the_header_scan_cannot(make_corpus) -> None:
    source = open_source(make_corpus())
    assert_reasons(reasons(find_bad_files(source, decode=False)), [*HEADER_VISIBLE, "dangling.jpg"])
    assert_reasons(reasons(find_bad_files(source, decode=True)), [*bad_images(), "dangling.jpg"])


def test_other_sources_are_not_scanned() -> None:
    class Own:  # a user's own Source
        num_samples, classes, num_classes = 1, None, 1

        def read(self, **kwargs):
            raise NotImplementedError

    assert find_bad_files(Own(), decode=True) is None


def test_large_data_sets_scan_once(make_corpus, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(scan_cache, "MIN_IMAGES", 1)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = make_corpus()
    first = find_bad_files(open_source(root), decode=True)
    assert len(list((tmp_path / "cache" / "dali-mixup" / "checks").glob("*.json"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    with monkeypatch.context() as patch:
        patch.setattr(badfiles, "decode_errors", no_decoding)
        assert find_bad_files(open_source(root), decode=True) == first
        assert find_bad_files(open_source(root), decode=False) == first  # a decode scan answers both
    (root / "odd" / "rgb.png").write_bytes(b"")  # a change of size or time: scanned again
    assert "rgb.png" in reasons(find_bad_files(open_source(root), decode=True))


# ------------------------------------------------------------------ reading headers


def jpeg_segment(code: int, payload: bytes) -> bytes:
    return bytes([0xFF, code]) + (len(payload) + 2).to_bytes(2, "big") + payload


JPEG = odd_images()["UPPER.JPG"]


@pytest.mark.parametrize("data, reason", [
    (b"\xff\xd8" + jpeg_segment(0xE0, b"JFIF\0" * 4)[:9], r"truncated JPEG: segment ffe0 at byte 2 runs "
                                                         r"past the end of the file \(11 bytes\)"),
    (b"\xff\xd8\xff\xd9", r"JPEG without image data: the end-of-image marker comes before any scan"),
    (b"\xff\xd8" + jpeg_segment(0xDA, b"\0" * 10) + b"\xff\xd9",
     r"corrupt JPEG header: image data \(SOS\) before the frame header \(SOF\)"),
    (b"\xff\xd8" + jpeg_segment(0xC0, b"\x08\0\0\0\0\x03") + b"\xff\xd9", r"JPEG of 0 x 0 pixels: expected "
                                                                          r"a width and height >= 1"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, r"corrupt PNG: the header chunk \(IHDR\) is missing"),
    (b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR" + b"\0" * 17, r"PNG of 0 x 0 pixels: expected a width and height >= 1"),
    # Longer than the first read: three 60 kB metadata segments before the image.
    (JPEG[:2] + jpeg_segment(0xE1, b"\0" * 60_000) * 3 + JPEG[2:], None),
])
def test_header_reasons(tmp_path: Path, data, reason) -> None:
    (tmp_path / "x.jpg").write_bytes(data)
    problem = Blob(str(tmp_path / "x.jpg")).problem()
    assert problem is None if reason is None else re.fullmatch(reason, problem), problem


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "WEBP"])
def test_other_formats_are_left_to_the_decoder(tmp_path: Path, fmt) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "x.jpg", format=fmt)
    assert Blob(str(tmp_path / "x.jpg")).problem() is None
    assert find_bad_files(open_source(write_list(tmp_path, [tmp_path / "x.jpg"])), decode=True) == []


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "locked.jpg").write_bytes(JPEG)
    os.chmod(tmp_path / "locked.jpg", 0)
    if os.access(tmp_path / "locked.jpg", os.R_OK):
        pytest.skip("running as a user who reads any file")
    assert Blob(str(tmp_path / "locked.jpg")).problem() == "cannot be read: Permission denied"
