"""Why an encoded image would not decode, read from its first and last bytes only: cheap
enough to run on every file of a data set before training.

A problem found here makes a file a suspect, not a verdict: the decoder has the last word
(``pipelines.decode_check``), and this module's words become the reason given. It reads
the header up to the first scan of a JPEG (or the header chunk of a PNG) and the last
``TAIL`` bytes, where a complete JPEG or PNG has its end marker.
"""

from __future__ import annotations

from collections.abc import Callable

# read(position, count): up to ``count`` bytes from ``position`` of the encoded image.
Reader = Callable[[int, int], bytes]

HEAD = 4096  # bytes read first; a JPEG header that is longer is walked with more reads
TAIL = 4096  # bytes at the end searched for the end marker (some files carry a trailer)
_JPEG = b"\xff\xd8"  # SOI; what follows is checked by walking the header
_PNG = b"\x89PNG\r\n\x1a\n"
_EOI = b"\xff\xd9"
_IEND = b"IEND\xaeB`\x82"
# JPEG markers that carry no length: TEM, RST0-7.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
# Start-of-frame markers (not DHT C4, JPG C8, DAC CC).
_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MAX_SEGMENTS = 1000
# Formats DALI's decoder reads besides JPEG and PNG: checked by decoding only.
_OTHER_FORMATS = (b"BM", b"II*\x00", b"MM\x00*", b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51",
                  *(b"P%d" % k for k in range(1, 7)))


def problem(read: Reader, size: int) -> str | None:
    """What is wrong with the encoded image of ``size`` bytes that ``read`` returns, or
    None where its header and end look right (or its format is checked by decoding only)."""
    if size == 0:
        return "empty file (0 bytes)"
    head = read(0, HEAD)
    if head.startswith(_JPEG):
        return _jpeg_problem(read, head, size)
    if head.startswith(_PNG):
        return _png_problem(read, head, size)
    if head.startswith(b"GIF8"):
        return "GIF image: DALI decodes JPEG, PNG, BMP, TIFF, WebP, JPEG 2000 and PNM, not GIF"
    if head.startswith(_OTHER_FORMATS) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return None
    return f"not an image: the file starts with {head[:16]!r}, not with a JPEG or PNG signature"


def _tail(read: Reader, head: bytes, size: int) -> bytes:
    if size <= len(head):  # the whole file is in hand
        return head[-TAIL:]
    start = max(0, size - TAIL)
    return read(start, size - start)


def _jpeg_problem(read: Reader, head: bytes, size: int) -> str | None:
    buffer, start = head, 0  # buffer holds the bytes from ``start`` on

    def at(position: int, count: int) -> bytes:
        nonlocal buffer, start
        if not start <= position <= position + count <= start + len(buffer):
            buffer, start = read(position, max(count, HEAD)), position
        return buffer[position - start:position - start + count]

    position, frame = 2, None
    for _ in range(_MAX_SEGMENTS):
        marker = at(position, 2)
        while marker == b"\xff\xff":  # fill bytes before a marker
            position += 1
            marker = at(position, 2)
        if len(marker) < 2:
            return f"truncated JPEG: the file ends in its header, at byte {position} of {size}"
        if marker[0] != 0xFF or marker[1] in (0x00, 0xD8):
            return f"corrupt JPEG header: expected a marker at byte {position}, found {marker.hex()}"
        code = marker[1]
        if code == 0xD9:
            return "JPEG without image data: the end-of-image marker comes before any scan"
        if code in _STANDALONE:
            position += 2
            continue
        length_bytes = at(position + 2, 2)
        length = int.from_bytes(length_bytes, "big") if len(length_bytes) == 2 else 0
        if length < 2 or position + 2 + length > size:
            return (f"truncated JPEG: segment ff{code:02x} at byte {position} runs past the end of "
                    f"the file ({size} bytes)")
        if code in _SOF:
            fields = at(position + 5, 4)
            height, width = int.from_bytes(fields[:2], "big"), int.from_bytes(fields[2:], "big")
            if not height or not width:
                return f"JPEG of {width} x {height} pixels: expected a width and height >= 1"
            frame = (width, height)
        if code == 0xDA:  # start of scan: the header ends here
            if frame is None:
                return "corrupt JPEG header: image data (SOS) before the frame header (SOF)"
            if _EOI not in _tail(read, head, size):
                return "truncated JPEG: the end-of-image marker (ffd9) is missing"
            return None
        position += 2 + length
    return f"corrupt JPEG header: more than {_MAX_SEGMENTS} segments before the image data"


def _png_problem(read: Reader, head: bytes, size: int) -> str | None:
    if len(head) < 33 or head[12:16] != b"IHDR":
        return "corrupt PNG: the header chunk (IHDR) is missing"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if not width or not height:
        return f"PNG of {width} x {height} pixels: expected a width and height >= 1"
    if _IEND not in _tail(read, head, size):
        return "truncated PNG: the end chunk (IEND) is missing"
    return None
