"""The FTPS server's view of files: a customer's jail, read-only, as pyftpdlib wants it.

pyftpdlib turns each client path into a real path (``ftp2fs``), checks it
(``validpath``) and hands it to the file system class. Here every client path goes
through the shared jail (``domain.jail`` for the names, ``entrypoints.jail_folder`` for
the real path): anything outside, hidden or not there becomes a path that
``validpath`` refuses. Every change is refused, whatever the authorizer says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NoReturn

from pyftpdlib.filesystems import AbstractedFS, FilesystemError

from kenshin.domain.jail import JailPath, resolve
from kenshin.entrypoints.jail_folder import JailFolder

# Facts of MLSD/MLST never given: the server's own accounts are nobody's business.
HIDDEN_FACTS = frozenset(("unix.uid", "unix.gid"))
_PYTHON_OCTAL = re.compile(rb"unix\.mode=0o([0-7]+);")
NOWHERE = "\x00nowhere"  # what a path outside the jail becomes: nothing can be there
READ_ONLY = "Permission denied: the files are read-only"


class JailFS(AbstractedFS):  # type: ignore[misc]  # pyftpdlib has no type hints
    """A customer's folder as ``/``: list, size, modification time, download."""

    def __init__(self, root: str, cmd_channel: Any) -> None:  # noqa: ANN401 - pyftpdlib's
        super().__init__(root, cmd_channel)
        self.jail = JailFolder(Path(root))
        self._root = str(self.jail.root)

    # paths
    def ftpnorm(self, ftppath: str) -> str:
        """The client path as a jail path's text, or ``/`` if it names nothing."""
        path = resolve(ftppath, self._jail_cwd())
        return "/" if path is None else path.virtual

    def ftp2fs(self, ftppath: str) -> str:
        """The real path of what the client asked for, or NOWHERE."""
        found = self.jail.lookup(ftppath, self._jail_cwd())
        return NOWHERE if found is None else str(found[1])

    def fs2ftp(self, fspath: str) -> str:
        """The client's path of a real path inside the jail (``/`` for anything else)."""
        if fspath == NOWHERE:
            return "/"
        real = Path(os.path.realpath(fspath))
        if real == self.jail.root or self.jail.root in real.parents:
            return "/" + "/".join(real.relative_to(self.jail.root).parts)
        return "/"

    def validpath(self, path: str) -> bool:
        """Whether ``path`` is a real path inside the jail that exists."""
        if path == NOWHERE:
            return False
        return self.jail.real(self.jail_path(path)) is not None

    def jail_path(self, fspath: str) -> JailPath:
        """The jail path of a real path inside the jail."""
        return resolve(self.fs2ftp(fspath)) or JailPath(())

    def _jail_cwd(self) -> JailPath:
        return resolve(self.cwd) or JailPath(())

    # reading
    def chdir(self, path: str) -> None:
        """Change the working folder; never the process's own."""
        if path == NOWHERE or not Path(path).is_dir():
            raise FilesystemError("No such folder")
        self.cwd = self.fs2ftp(path)

    def open(self, filename: str, mode: str) -> IO[bytes]:
        """Open a file for reading; any other mode is refused."""
        if filename == NOWHERE or mode.strip("b") != "r":
            raise FilesystemError(READ_ONLY if filename != NOWHERE else "No such file")
        file = self.jail.open_file(Path(filename))
        if file is None:  # changed since it was looked up
            raise FilesystemError("No such file")
        return file

    def listdir(self, path: str) -> list[str]:
        """Names in a folder of the jail; hidden and outside entries are left out."""
        entries = self.jail.listing(self.jail_path(path)) if path != NOWHERE else None
        if entries is None:
            raise FilesystemError("No such folder")
        return [e.name for e in entries]

    listdirinfo = listdir

    def lstat(self, path: str) -> os.stat_result:
        """A listed entry's status, its link followed (the listing let in only safe ones)."""
        return self.stat(path)

    def stat(self, path: str) -> os.stat_result:
        """The status of a file or folder inside the jail."""
        if path == NOWHERE:
            raise FilesystemError("No such file")
        return Path(path).stat()

    def islink(self, path: str) -> bool:
        """Links are shown as what they point to."""
        return False

    def format_mlsx(
        self,
        basedir: str,
        listing: list[str],
        perms: str,
        facts: list[str],
        ignore_err: bool = True,
    ) -> Iterator[bytes]:
        """MLSD/MLST lines: the mode in plain octal (``0640``, as clients parse it, not
        Python's ``0o640``), no owner or group."""
        shown = [fact for fact in facts if fact not in HIDDEN_FACTS]
        for line in super().format_mlsx(basedir, listing, perms, shown, ignore_err):
            yield _PYTHON_OCTAL.sub(rb"unix.mode=0\1;", line)

    def get_user_by_uid(self, uid: int) -> str:
        """Owners are not shown: the server's accounts are nobody's business."""
        return "kenshin"

    def get_group_by_gid(self, gid: int) -> str:
        """Groups are not shown either."""
        return "kenshin"

    # changes: all refused
    def _refuse(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise FilesystemError(READ_ONLY)

    mkdir = rmdir = remove = rename = chmod = utime = mkstemp = readlink = _refuse
