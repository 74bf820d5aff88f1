"""The error raised for a damaged TFRecord file: it names the file, the byte offset and the problem."""

from __future__ import annotations

import os

from danlu.errors import DanluError


class CorruptRecordError(DanluError):
    """A record that fails its CRC, a truncated file, or a damaged compressed stream.

    Attributes:
        path: the file.
        offset: byte offset of the record's frame (in the decompressed stream for GZIP/ZLIB).
        reason: what is wrong, in words.
    """

    def __init__(self, path: str | os.PathLike, offset: int, reason: str) -> None:
        self.path = os.fspath(path)
        self.offset = int(offset)
        self.reason = reason
        super().__init__(f"{self.path}: offset {self.offset}: {reason}")
