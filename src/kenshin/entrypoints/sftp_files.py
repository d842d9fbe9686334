"""The SFTP server's view of files: a customer's jail, read-only, as asyncssh wants it.

Every path goes through the shared jail (``domain.jail`` for the names,
``entrypoints.jail_folder`` for the real path); anything outside, hidden or not there
is "no such file". Files open for reading only; every change is refused. A download
is complete, and receipted, when the client read every byte of the file before
closing it (in any order: SFTP clients read many blocks at once).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import asyncssh
from asyncssh.constants import (
    ACE4_READ_ATTRIBUTES,
    ACE4_READ_DATA,
    FXF_ACCESS_DISPOSITION,
    FXF_APPEND,
    FXF_CREAT,
    FXF_EXCL,
    FXF_OPEN_EXISTING,
    FXF_TRUNC,
    FXF_WRITE,
)

from kenshin.domain.accounts import Receipt
from kenshin.domain.jail import JailPath, resolve
from kenshin.entrypoints.jail_folder import JailFolder
from kenshin.ports import Deliveries
from kenshin.services.receipts import record_download

READ_ONLY = "The files are read-only"
_WRITING = FXF_WRITE | FXF_APPEND | FXF_CREAT | FXF_TRUNC | FXF_EXCL


class Download:
    """An open file and the byte ranges read from it."""

    def __init__(self, path: JailPath, file: BinaryIO, revision: int | None) -> None:
        self.path = path
        self.file = file
        self.size = os.fstat(file.fileno()).st_size
        self.revision = revision
        self._ranges: list[tuple[int, int]] = []

    def read(self, offset: int, size: int) -> bytes:
        """Bytes at ``offset``, remembered as read."""
        data = os.pread(self.file.fileno(), size, offset)
        if data:
            self._ranges.append((offset, offset + len(data)))
        return data

    def complete(self) -> bool:
        """Whether every byte of the file was read."""
        end = 0
        for start, stop in sorted(self._ranges):
            if start > end:
                return False
            end = max(end, stop)
        return end >= self.size


class JailSFTPServer(asyncssh.SFTPServer):
    """A customer's folder as ``/``: list, stat, download."""

    def __init__(
        self, chan: asyncssh.SSHServerChannel[bytes], *, outbox: Path, deliveries: Deliveries
    ) -> None:
        super().__init__(chan)
        self._customer = str(chan.get_extra_info("username"))
        peer = chan.get_extra_info("peername")
        self._address = str(peer[0]) if peer else "unknown"
        self._jail = JailFolder(outbox / self._customer)
        self._deliveries = deliveries

    def _find(self, path: bytes) -> tuple[JailPath, Path]:
        try:
            found = self._jail.lookup(path.decode("utf-8"), JailPath(()))
        except UnicodeDecodeError:
            found = None
        if found is None:
            raise asyncssh.SFTPNoSuchFile("No such file")
        return found

    def format_user(self, uid: int | None) -> str:
        """Owners are not shown."""
        return "kenshin"

    def format_group(self, gid: int | None) -> str:
        """Groups are not shown."""
        return "kenshin"

    def realpath(self, path: bytes) -> bytes:
        """The canonical jail path; a climb out of the jail names nothing."""
        try:
            found = resolve(path.decode("utf-8"))
        except UnicodeDecodeError:
            found = None
        if found is None:
            raise asyncssh.SFTPNoSuchFile("No such file")
        return found.virtual.encode()

    def stat(self, path: bytes) -> os.stat_result:
        """Status of a file or folder in the jail."""
        return self._find(path)[1].stat()

    lstat = stat  # a link inside the jail shows as what it points to

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        """The folder's entries; hidden ones and ones leading outside are left out."""
        jail_path, _real = self._find(path)
        entries = self._jail.listing(jail_path)
        if entries is None:
            raise asyncssh.SFTPNoSuchFile("Not a folder")
        for name in (".", ".."):
            yield asyncssh.SFTPName(name.encode(), attrs=await self.convert_attrs(self.stat(path)))
        for entry in entries:
            real = self._jail.real(JailPath((*jail_path.parts, entry.name)))
            if real is not None:
                attrs = asyncssh.SFTPAttrs.from_local(real.stat())
                yield asyncssh.SFTPName(entry.name.encode(), attrs=attrs)

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> Download:
        """Open a file for reading; writing in any form is refused."""
        if pflags & _WRITING:
            raise asyncssh.SFTPPermissionDenied(READ_ONLY)
        return self._open(path)

    def open56(
        self, path: bytes, desired_access: int, flags: int, attrs: asyncssh.SFTPAttrs
    ) -> Download:
        """Open (SFTP v5 and v6) for reading an existing file only."""
        reading = ACE4_READ_DATA | ACE4_READ_ATTRIBUTES
        if desired_access & ~reading or flags & FXF_ACCESS_DISPOSITION != FXF_OPEN_EXISTING:
            raise asyncssh.SFTPPermissionDenied(READ_ONLY)
        return self._open(path)

    def _open(self, path: bytes) -> Download:
        jail_path, real = self._find(path)
        if real.is_dir():
            raise asyncssh.SFTPFailure("Is a folder")
        file = self._jail.open_file(real)
        if file is None:  # changed since it was looked up
            raise asyncssh.SFTPNoSuchFile("No such file")
        return Download(jail_path, file, self._jail.revision_of(jail_path))

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        """Bytes of an open file."""
        return _download(file_obj).read(offset, size)

    def fstat(self, file_obj: object) -> os.stat_result:
        """Status of an open file."""
        return os.fstat(_download(file_obj).file.fileno())

    def close(self, file_obj: object) -> None:
        """Close a file; a complete download gets its receipt."""
        download = _download(file_obj)
        download.file.close()
        if download.complete():
            record_download(
                self._deliveries,
                Receipt(
                    self._customer,
                    download.path.virtual.lstrip("/"),
                    download.revision,
                    download.size,
                    "sftp",
                    self._address,
                    int(time.time()),
                ),
            )

    # changes, links and the rest: all refused
    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def remove(self, path: bytes) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def rmdir(self, path: bytes) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def readlink(self, path: bytes) -> bytes:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def lock(self, file_obj: object, offset: int, length: int, flags: int) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def unlock(self, file_obj: object, offset: int, length: int) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def fsync(self, file_obj: object) -> None:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def statvfs(self, path: bytes) -> asyncssh.SFTPVFSAttrs:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def fstatvfs(self, file_obj: object) -> asyncssh.SFTPVFSAttrs:
        """Refused: the files are read-only."""
        raise asyncssh.SFTPPermissionDenied(READ_ONLY)


def _download(file_obj: object) -> Download:
    if not isinstance(file_obj, Download):
        raise asyncssh.SFTPFailure("Not an open file")
    return file_obj
