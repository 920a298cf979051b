"""Atomic file writes: a temporary file in the target's folder, then a rename over the target.

A reader never sees a half-written file, and an existing file is untouched when writing fails.
Every failure is a :class:`~mlp_core.errors.WriteError` (an ``MLPError`` and an ``OSError``) with
one line, ``cannot write PATH: <reason>``, and no temporary file is left behind.

The rules:

* **Destinations.** An empty path, a path ending in ``/``, and an existing directory are refused
  before anything is created. Missing parent folders are created.
* **Symbolic links** are never replaced by a file: a link to a regular file (or a dangling link)
  is written through, atomically, in the folder of the file it resolves to.
* **Non-regular files and descriptors** are written in place, without a temporary file: a
  character device or FIFO (``/dev/null``, a named pipe), anything under ``/proc``, and the
  descriptor aliases ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N`` and ``/proc/self/fd/N``,
  which are written through a duplicate of descriptor N, so ``--json /dev/stdout > out.txt`` shares
  the shell's file offset instead of truncating or overwriting what the process printed.
* **Permissions.** A new file gets ``0666 & ~umask``, as ``open()`` would give it; a file being
  replaced keeps its permission bits.
* **Temporaries** are named ``.NAME.PID.XXXXXXXX.tmp`` beside the target. Writing ``NAME`` first
  removes its stale temporaries: those whose writer (``PID``) is no longer running on this machine,
  and any untouched for more than ``STALE_AFTER_S`` seconds (this also covers writers on another
  machine sharing the folder, and older temporaries without a PID).
* **SIGTERM** during a write, in the main thread while SIGTERM has its default action, removes the
  temporary and then ends the process by SIGTERM as it would have. (Ctrl-C and other exceptions
  remove it too; ``kill -9`` cannot be caught, which is what the sweep is for.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import WriteError
from .signals import Terminated, terminate_raises

STALE_AFTER_S = 600.0  # a temporary untouched this long is abandoned, whoever made it

# Paths that name one of this process's open descriptors
_FD_ALIASES = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_FD_PATH = re.compile(r"/(?:dev/fd|proc/self/fd|proc/(\d+)/fd)/(\d+)")


def _error(path: str | os.PathLike, exc: OSError | str) -> WriteError:
    reason = exc if isinstance(exc, str) else (exc.strerror or str(exc))
    return WriteError(f"cannot write {os.fspath(path) or repr('')}: {reason}")


# ---------------------------------------------------------------------------------------------
# Where a write goes
def _fd_alias(p: str) -> int | None:
    if p in _FD_ALIASES:
        return _FD_ALIASES[p]
    m = _FD_PATH.fullmatch(p)
    if m is None or (m.group(1) and int(m.group(1)) != os.getpid()):
        return None
    return int(m.group(2))


def _link_chain(path: str) -> Iterator[str]:
    """``path`` made absolute, then each target its symbolic links lead to, in turn."""
    p = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on nested links
        yield p
        if not os.path.islink(p):
            return
        p = os.path.normpath(os.path.join(os.path.dirname(p), os.readlink(p)))


def _destination(path: str | os.PathLike) -> tuple[Path, int | None, bool]:
    """``(file to write, descriptor to write through or None, whether to write in place)``.

    Raises :class:`WriteError` for a destination that can never be written.
    """
    raw = os.fspath(path)
    if raw == "":
        raise _error(path, "the path is empty")
    if raw.endswith(os.sep):
        raise _error(path, "is a directory name (ends with /)")
    try:
        for hop in _link_chain(raw):
            fd = _fd_alias(hop)
            if fd is not None:
                return Path(hop), fd, True
            if hop.startswith("/proc/"):
                return Path(hop), None, True
        try:
            st = os.stat(raw)
        except FileNotFoundError:
            st = None
    except OSError as exc:  # a file where a folder should be, a link loop, no permission...
        raise _error(path, exc) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise _error(path, "is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return Path(raw), None, True  # device, FIFO, socket: nothing to replace
    return Path(os.path.realpath(raw) if os.path.islink(raw) else raw), None, False


def check_writable(path: str | os.PathLike) -> Path:
    """Check up front that :func:`atomic_open` can write ``path``; return it as a ``Path``.

    Meant for command-line options such as ``--save``, so that a bad destination fails at once
    rather than after training. Creates nothing: the nearest existing folder must be writable.
    """
    target, fd, in_place = _destination(path)
    if fd is not None:
        try:
            os.fstat(fd)
        except OSError as exc:
            raise _error(path, exc) from None
        return Path(path)
    if in_place:
        if not os.path.exists(target):
            raise _error(path, os.strerror(errno.ENOENT))
        if not os.access(target, os.W_OK):
            raise _error(path, os.strerror(errno.EACCES))
        return Path(path)
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the missing folders would be created there
    if not folder.is_dir():
        raise _error(path, f"{folder} is not a folder")
    if folder == target.parent:  # the folder exists: the surest test is to make a file there
        try:
            fd, tmp = _make_temp(target)
        except OSError as exc:
            raise _error(path, exc) from None
        os.close(fd)
        os.unlink(tmp)
    elif not os.access(folder, os.W_OK | os.X_OK):
        raise _error(path, f"cannot create folders in {folder} ({os.strerror(errno.EACCES)})")
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Temporaries
def _temp_pattern(name: str) -> re.Pattern:
    # ours: .NAME.PID.8hex.tmp; before PIDs were encoded, mkstemp's: .NAME.8chars.tmp
    return re.compile(re.escape(f".{name}.") + r"(?:(\d+)\.[0-9a-f]{8}|[a-z0-9_]{8})\.tmp")


def _make_temp(target: Path) -> tuple[int, str]:
    """Create a new, empty temporary beside ``target``; the mode ``0666`` is masked by the umask."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                           0o666), str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(target.parent))


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except (OverflowError, ValueError, OSError):
        return False  # not a possible PID
    return True


def sweep_stale_temps(target: str | os.PathLike, now: float | None = None) -> list[Path]:
    """Remove ``target``'s temporaries left by writers that died; return those removed."""
    target = Path(target)
    folder = target.parent
    pattern = _temp_pattern(target.name)
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if not m:
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
            pid = int(m.group(1)) if m.group(1) else None
            if age > STALE_AFTER_S or (pid not in (None, 0) and not _pid_running(pid)):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone already (another writer swept it), or not ours to remove
    return removed


# ---------------------------------------------------------------------------------------------
# Writing
def _open_kwargs(mode: str) -> dict:
    return {} if "b" in mode else {"encoding": "utf-8"}


@contextlib.contextmanager
def _write_in_place(path: str | os.PathLike, target: Path, fd: int | None,
                    mode: str) -> Iterator[IO]:
    try:
        if fd is not None:
            for stream in (sys.stdout, sys.stderr):  # keep what was printed before our output
                with contextlib.suppress(Exception):
                    stream.flush()
            f = os.fdopen(os.dup(fd), mode, **_open_kwargs(mode))
        else:
            f = open(target, mode, **_open_kwargs(mode))
    except OSError as exc:
        raise _error(path, exc) from None
    try:
        with f:
            yield f
    except OSError as exc:
        raise _error(path, exc) from None


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open ``path`` for writing (``"wb"`` or ``"w"``); it appears complete, or not at all.

    See the module docstring for symbolic links, devices, permissions and temporaries.
    """
    target, fd, in_place = _destination(path)
    if in_place:
        with _write_in_place(path, target, fd, mode) as f:
            yield f
        return
    tmp = None
    with terminate_raises(Terminated, then_die=True):  # (mlp_core.signals: the policy)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            sweep_stale_temps(target)
            try:
                keep_mode = stat.S_IMODE(os.stat(target).st_mode)
            except FileNotFoundError:
                keep_mode = None
            tmp_fd, tmp = _make_temp(target)
            if keep_mode is not None:
                os.fchmod(tmp_fd, keep_mode)
            with os.fdopen(tmp_fd, mode, **_open_kwargs(mode)) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            tmp = None
        except BaseException as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if isinstance(exc, OSError) and not isinstance(exc, WriteError):
                raise _error(path, exc) from None
            raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "check_writable",
           "sweep_stale_temps", "STALE_AFTER_S"]
