"""Outputs that appear whole or not at all: one staged-output protocol for files, folders, tables.

Every output mmp writes (a batch file, a Spark or exported-model folder, a SQL table) is staged and
then published with the same two calls: `commit()` makes it visible under its real name in one
step, `abort()` (or leaving the `with` block without committing, or the process dying) leaves no
trace and the previous output untouched. `Staged` names that protocol; `AtomicFile` and
`StagedFolder` implement it here, `mmp.pipelines.batch.sql_writer.SqlWriter` for tables.

A file is written to an anonymous file (Linux `O_TMPFILE`: it has no name, so even `kill -9`
leaves nothing behind) and given its real name only when the job succeeds. Where the filesystem
cannot make anonymous files, a hidden `.NAME.mmp-partial-PID-XXXX` file is used instead; it is
removed on any Python-level failure (error, Ctrl-C, SIGTERM), and a later run sweeps the ones a
killed process left.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from mmp.core.errors import MmpError

PARTIAL_MARK = ".mmp-partial-"
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT}


class Staged(Protocol):
    """An output being built out of sight: `commit()` publishes it, `abort()` drops it."""

    def commit(self) -> object: ...

    def abort(self) -> None: ...


def partial_name(target: Path) -> str:
    return f".{target.name}{PARTIAL_MARK}{os.getpid()}-{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_partials(target: Path) -> list[Path]:
    """Remove hidden partial files (or folders) of `target` whose writing process is gone."""
    removed: list[Path] = []
    prefix = f".{target.name}{PARTIAL_MARK}"
    if not target.parent.is_dir():
        return removed
    for candidate in target.parent.iterdir():
        if not candidate.name.startswith(prefix):
            continue
        pid_text = candidate.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            if candidate.is_dir():  # a Spark output folder
                shutil.rmtree(candidate, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    candidate.unlink()
            removed.append(candidate)
    return removed


class AtomicFile:
    """A binary file that becomes `target` on `commit()` and vanishes on `abort()` or a crash.

    Use it as a context manager: leaving the block without `commit()` aborts.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self._fd: int | None = None
        self._named: Path | None = None
        self.file: BinaryIO
        directory = target.parent if str(target.parent) else Path(".")
        directory.mkdir(parents=True, exist_ok=True)
        tmpfile = getattr(os, "O_TMPFILE", None)
        if tmpfile is not None:
            try:
                self._fd = os.open(directory, tmpfile | os.O_RDWR | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                if exc.errno not in _NO_TMPFILE:
                    raise _unwritable(target, exc) from None
        if self._fd is None:
            self._named = directory / partial_name(target)
            try:
                self._fd = os.open(self._named, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise _unwritable(target, exc) from None
        self.file = os.fdopen(self._fd, "wb", buffering=1 << 20, closefd=False)
        self._done = False

    @property
    def anonymous(self) -> bool:
        """True when no name exists on disk until commit (the kill -9 safe mode)."""
        return self._named is None

    def commit(self) -> Path:
        """Flush to disk and give the file its final name in one rename (replacing any old file)."""
        assert self._fd is not None and not self._done
        self.file.flush()
        os.fsync(self._fd)
        directory = self.target.parent if str(self.target.parent) else Path(".")
        if self._named is None:
            # Link the anonymous file under a hidden name, then rename it over the target: rename
            # replaces atomically, link does not.
            self._named = directory / partial_name(self.target)
            _link_anonymous(self._fd, self._named)
        os.replace(self._named, self.target)
        self._named = None
        self._close()
        _fsync_dir(directory)
        self._done = True
        return self.target

    def abort(self) -> None:
        """Drop everything written so far; safe to call twice."""
        if self._done:
            return
        self._done = True
        self._close()
        if self._named is not None:
            with contextlib.suppress(FileNotFoundError):
                self._named.unlink()
            self._named = None

    def _close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.file.close()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


def _link_anonymous(fd: int, name: Path) -> None:
    """Give an O_TMPFILE file a name: linkat(2) through /proc/self/fd with AT_SYMLINK_FOLLOW.

    `os.link` only uses linkat (and so follows the /proc magic link) when a dir fd is given; plain
    link(2) would try to link the symlink itself and fail with EXDEV. Without /proc, copy instead.
    """
    dir_fd = os.open(name.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(f"/proc/self/fd/{fd}", name.name, dst_dir_fd=dir_fd, follow_symlinks=True)
        return
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        size, offset = os.fstat(fd).st_size, 0
        while offset < size:
            sent = os.copy_file_range(fd, out, size - offset, offset, offset)
            if sent == 0:
                raise OSError(errno.EIO, "short copy")
            offset += sent
        os.fsync(out)
    except BaseException:
        os.close(out)
        name.unlink(missing_ok=True)
        raise
    os.close(out)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unwritable(target: Path, exc: OSError) -> MmpError:
    return MmpError(
        f"cannot write {target}: {exc.strerror or exc}",
        "check that the output folder exists and is writable",
    )


class StagedFolder:
    """A folder built under a hidden partial name beside `target` and renamed into place on `commit()`.

    With `create=False` the staging path is only reserved (for writers such as Spark that refuse an
    existing folder). An old output at `target` (file or folder) is replaced only at commit. Use it
    as a context manager: leaving the block without `commit()` aborts.
    """

    def __init__(self, target: Path, create: bool = True) -> None:
        self.target = target
        directory = target.parent if str(target.parent) else Path(".")
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / partial_name(target)
        self._done = False
        if create:
            try:
                self.path.mkdir()  # plain mkdir: the umask's permissions, readable by other users
            except OSError as exc:
                raise _unwritable(target, exc) from None

    def commit(self) -> Path:
        """Rename the finished folder into place; an old output is moved aside first, then removed."""
        assert not self._done
        old = None
        if self.target.exists() or self.target.is_symlink():
            old = self.target.parent / partial_name(self.target)
            self.target.rename(old)
        self.path.rename(self.target)
        self._done = True
        if old is not None:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
        _fsync_dir(self.target.parent if str(self.target.parent) else Path("."))
        return self.target

    def abort(self) -> None:
        """Remove the staging folder; safe to call twice."""
        if self._done:
            return
        self._done = True
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> StagedFolder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()
