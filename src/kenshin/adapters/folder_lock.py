"""The locks that keep a data folder to one ``kenshin serve`` and one ``kenshin files``.

An exclusive ``flock`` on ``serve.lock`` (``files.lock``) in the data folder, the file
holding the holder's process id for the message of the next one. The kernel lets the lock go
when the process ends in any way, SIGKILL included: a stale lock cannot be left.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kenshin.errors import KenshinError

LOCK_FILE = "serve.lock"
FILES_LOCK_FILE = "files.lock"  # kenshin files: a lock of its own, apart from serve's


class FolderInUseError(KenshinError):
    """Another process holds the data folder's lock."""


class FolderLock:
    """Holds the lock of ``folder`` (its file ``name``, for the command ``holder``) from
    ``acquire`` until ``release`` (or the end of the process)."""

    def __init__(self, folder: Path, name: str = LOCK_FILE, holder: str = "kenshin serve") -> None:
        self.path = folder / name
        self._holder = holder
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write this process's id in it; FolderInUseError, naming the
        holder, if another process has it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise FolderInUseError(
                f"the data folder {self.path.parent} is in use by {self._holder} process"
                f" {holder}: stop it first, or give this one a data folder of its own"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        """Let the lock go."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None
