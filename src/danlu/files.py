"""Files the user owns: atomic writes that never leave half a file, and checks before writing.

Every file danlu writes (TFRecord files, checkpoints, reports) goes through :class:`AtomicWrite`:
the bytes go to a temporary file beside the target (same folder, so the rename cannot cross file
systems), which is flushed, fsync'ed and then renamed onto the target (``os.replace``), and the
folder is fsync'ed. A crash or an error at any point leaves either the old file or the new one,
never half of one, and no temporary file behind (``abort`` removes it; a ``kill -9`` can leave
one, named ``.NAME.tmp-*``, which nothing reads).

    >>> from danlu.files import atomic_open
    >>> with atomic_open("/tmp/danlu-doc.txt", "w") as f:      # old file intact until this ends
    ...     _ = f.write("hello")

:func:`check_output` is what a command runs before it starts: it refuses an existing output
unless ``overwrite`` (a user's file is never replaced by surprise), an output that is one of the
inputs (same file by inode, so ``./a``, ``a`` and a symlink to ``a`` all count), a folder, and a
target whose folder does not exist.

Targets that are not regular files (``/dev/stdout``, a named pipe) are written in place: there is
nothing to protect and nothing to rename.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator
from typing import IO, Any

from danlu.errors import DanluError

PathLike = str | os.PathLike


class OutputExistsError(DanluError):
    """The output file exists and overwriting was not asked for."""


def _is_special(path: pathlib.Path) -> bool:
    """True for an existing target that is not a regular file or folder (device, pipe, socket)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_output(path: PathLike, *, overwrite: bool = False, inputs: Iterable[PathLike | None] = (),
                 flag: str = "output", overwrite_flag: str = "--overwrite") -> pathlib.Path:
    """Check that ``path`` may be written; returns it as a Path.

    Args:
        path: the output file.
        overwrite: allow replacing an existing regular file.
        inputs: files the command reads (``None`` or ``"-"`` for stdin are skipped); the output
            may not be any of them, whichever path spells it.
        flag: how the message names the output (``"output"``, ``"--plot"``).
        overwrite_flag: the option the message suggests.

    Raises:
        DanluError: the output is one of the inputs, is a folder, or its folder does not exist.
        OutputExistsError: it exists and ``overwrite`` is False.
    """
    p = pathlib.Path(path)
    for src in inputs:
        if src is None or os.fspath(src) == "-":
            continue
        if _same_file(p, pathlib.Path(src)):
            raise DanluError(f"{flag} {str(p)!r} is the input file {os.fspath(src)!r}; writing it would destroy "
                             f"the input: choose another output")
    if p.is_dir():
        raise DanluError(f"{flag} {str(p)!r} is a directory; give a file name")
    parent = p.absolute().parent
    if not parent.is_dir():
        raise DanluError(f"{flag} {str(p)!r}: folder {str(parent)!r} does not exist")
    if p.exists() and not _is_special(p) and not overwrite:
        raise OutputExistsError(f"{flag} {str(p)!r} already exists; pass {overwrite_flag} to replace it")
    return p


def _same_file(a: pathlib.Path, b: pathlib.Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare the resolved spellings
        return a.resolve() == b.resolve()


def fsync_dir(folder: PathLike) -> None:
    """fsync a folder so a rename in it survives a crash (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicWrite:
    """One pending write of ``path``: write the new content to :attr:`tmp`, then :meth:`commit`.

    As a context manager it commits when the block ends normally and aborts (removes the
    temporary file, leaves ``path`` untouched) when it raises, Ctrl-C included.

    Args:
        path: the target. A symlink is followed: its target file is replaced, the link kept.
        overwrite: if False, :meth:`commit` refuses to replace a file that exists by then
            (checked atomically with a hard link where the file system has them).
        fsync: flush the data and the folder to disk before and after the rename.
    """

    def __init__(self, path: PathLike, *, overwrite: bool = True, fsync: bool = True) -> None:
        target = pathlib.Path(path)
        self.direct = _is_special(target)  # /dev/stdout, a FIFO: write in place
        if target.is_symlink() and not self.direct:
            target = pathlib.Path(os.path.realpath(target))
        self.path = target
        self.overwrite = overwrite
        self.fsync = fsync
        self.tmp = target if self.direct else target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        self.done = False

    def commit(self) -> pathlib.Path:
        """Move the temporary file onto the target (fsync'ed); returns the target."""
        if self.done:
            return self.path
        self.done = True
        if self.direct:
            return self.path
        try:
            if self.fsync:
                _fsync_file(self.tmp)
            if self.path.exists():
                with contextlib.suppress(OSError):
                    shutil.copymode(self.path, self.tmp)  # keep the replaced file's permissions
            if self.overwrite:
                os.replace(self.tmp, self.path)
            else:
                self._link_no_clobber()
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        if self.fsync:
            fsync_dir(self.path.parent)
        return self.path

    def _link_no_clobber(self) -> None:
        try:
            os.link(self.tmp, self.path)  # fails if the target appeared meanwhile
        except FileExistsError:
            raise OutputExistsError(f"{str(self.path)!r} already exists; pass --overwrite to replace it") from None
        except OSError:  # no hard links here (some network or FAT file systems)
            if self.path.exists():
                raise OutputExistsError(f"{str(self.path)!r} already exists; pass --overwrite to replace it") from None
            os.replace(self.tmp, self.path)
            return
        self.tmp.unlink()

    def abort(self) -> None:
        """Drop the temporary file; the target stays as it was."""
        if self.done:
            return
        self.done = True
        if not self.direct:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicWrite:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _fsync_file(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike, *, overwrite: bool = True) -> Iterator[pathlib.Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed."""
    with AtomicWrite(path, overwrite=overwrite) as w:
        yield w.tmp


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb", *, overwrite: bool = True, **kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` that only replaces ``path`` when the block ends without error.

    ``mode`` is ``"w"`` or ``"wb"`` (for "do not replace an existing file" pass ``overwrite=False``).
    """
    if mode not in ("w", "wb", "wt"):
        raise DanluError(f"atomic_open writes a whole new file; mode must be 'w' or 'wb', got {mode!r}")
    with AtomicWrite(path, overwrite=overwrite) as w, open(w.tmp, mode, **kwargs) as f:
        yield f


def write_text(path: PathLike, text: str, *, overwrite: bool = True, encoding: str = "utf-8") -> pathlib.Path:
    """Atomically write ``text`` to ``path``."""
    with atomic_open(path, "w", overwrite=overwrite, encoding=encoding) as f:
        f.write(text)
    return pathlib.Path(path)


__all__ = ["AtomicWrite", "OutputExistsError", "atomic_open", "atomic_path", "check_output", "fsync_dir",
           "write_text"]
