"""An encoded image as stored: a whole file, or an entry of a WebDataset tar shard."""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import sniff


@dataclass(frozen=True)
class Blob:
    """The encoded image in file ``path``: the whole file, or the ``size`` bytes at ``offset``
    that hold tar entry ``member``."""

    path: str
    member: str | None = None
    offset: int = 0
    size: int | None = None  # None: the whole file

    def __str__(self) -> str:
        return self.path if self.member is None else f"{self.path}[{self.member}]"

    def read(self) -> bytes:
        """The encoded bytes; OSError where they cannot be read whole."""
        with open(self.path, "rb") as file:
            if self.size is None:
                return file.read()
            file.seek(self.offset)
            data = file.read(self.size)
        if len(data) != self.size:
            raise OSError(f"the file ends {self.size - len(data)} bytes into the entry")
        return data

    def problem(self) -> str | None:
        """What ``sniff.problem`` finds wrong with the encoded image, or why it cannot be
        read; None where it looks right."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as error:
            return unreadable(self.path, error)
        try:
            size = os.fstat(fd).st_size if self.size is None else self.size

            def read(position: int, count: int) -> bytes:
                return os.pread(fd, max(0, min(count, size - position)), self.offset + position)

            return sniff.problem(read, size)
        except OSError as error:
            return unreadable(self.path, error)
        finally:
            os.close(fd)


def unreadable(path: str, error: OSError) -> str:
    """The reason a file that cannot be opened or read gives."""
    if os.path.islink(path) and not os.path.exists(path):
        return f"broken symbolic link to {os.readlink(path)!r}"
    return f"cannot be read: {error.strerror or error}"
