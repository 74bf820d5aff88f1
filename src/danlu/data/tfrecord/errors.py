"""The error raised for a damaged TFRecord file: it names the file, the byte offset and the problem."""

from __future__ import annotations

import os
import re

from danlu.errors import DanluError

# "<path>: offset <n>: <reason>", alone or as the last line of a DataLoader worker's traceback
_WORKER = re.compile(r"(?:^|CorruptRecordError: )(?P<path>[^\n]+): offset (?P<offset>\d+): (?P<reason>[^\n]+)\s*$")


class CorruptRecordError(DanluError):
    """A record that fails its CRC, a truncated file, or a damaged compressed stream.

    Attributes:
        path: the file.
        offset: byte offset of the record's frame (in the decompressed stream for GZIP/ZLIB).
        reason: what is wrong, in words.

    Raised in a ``torch.utils.data.DataLoader`` worker, it reaches the main process as a
    ``CorruptRecordError`` too (the DataLoader rebuilds it from the worker's message, which is
    the one argument form), with the same path, offset and reason.
    """

    def __init__(self, path: str | os.PathLike, offset: int | None = None, reason: str | None = None) -> None:
        if offset is None:  # one message: a DataLoader re-raising a worker's error
            msg = str(path)
            m = _WORKER.search(msg)
            if m is None:
                self.path, self.offset, self.reason = "", -1, msg
                super().__init__(msg)
                return
            path, offset, reason = m["path"], int(m["offset"]), m["reason"]
        self.path = os.fspath(path)
        self.offset = int(offset)
        self.reason = reason
        super().__init__(f"{self.path}: offset {self.offset}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.offset, self.reason)
