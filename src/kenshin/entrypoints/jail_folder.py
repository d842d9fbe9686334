"""A customer's jail on disk: its folder of the outbox, read-only, real paths checked.

``domain.jail`` turns what a client asked for into names below the root; this adds
what only the disk knows: a name whose real path (symbolic links followed) leaves the
customer's folder is nothing, and so is anything but a regular file or a folder.
A file is served only if kenshin published it: owned by the server's own user and
with one name only (a hard link could give a secret, such as the CA's key, a name in
the outbox; publishing renames a new file into place, so it has one link).
A file is opened without following a symbolic link and judged again by what was
opened, so a link swapped in after the lookup serves nothing.
Both file servers use it, so the rules are the same for FTPS and SFTP: it is their
own code, as they serve a local folder.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kenshin.domain.jail import FOLDER_MODE, JailPath, plain_name, resolve
from kenshin.domain.manifest import MANIFEST_SUFFIX


@dataclass(frozen=True, slots=True)
class Entry:
    """A file or folder a customer can see: its name, whether a folder, size and mtime."""

    name: str
    is_dir: bool
    size: int
    mtime: float
    mode: int


def servable(status: os.stat_result) -> bool:
    """Whether a file with this status may be served: a regular file of the server's own
    user with one link."""
    return stat.S_ISREG(status.st_mode) and status.st_nlink == 1 and status.st_uid == os.getuid()


class JailFolder:
    """One customer's folder seen as ``/``: list, stat, open for reading; nothing else."""

    def __init__(self, root: Path) -> None:
        root.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        self.root = Path(os.path.realpath(root))

    def real(self, path: JailPath) -> Path | None:
        """The real path of ``path`` if it stays inside the jail and is a file or folder."""
        real = Path(os.path.realpath(self.root.joinpath(*path.parts)))
        if real != self.root and self.root not in real.parents:
            return None
        try:
            status = real.stat()
        except OSError:
            return None
        return real if stat.S_ISDIR(status.st_mode) or servable(status) else None

    def open_file(self, real: Path) -> BinaryIO | None:
        """``real`` (a real path from ``real``) opened for reading, or None if it is no
        longer a servable file inside the jail: a symbolic link is not followed, and the
        file opened must be the one the path names now."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:  # the opener keeps the path as the file's name (FTPS receipts use it)
            file = open(real, "rb", opener=lambda path, _mode: os.open(path, flags))  # noqa: SIM115
        except OSError:  # a link (ELOOP), or gone
            return None
        try:
            opened = os.fstat(file.fileno())
            if servable(opened) and self._names(real, opened):
                return file
        except OSError:
            pass
        file.close()
        return None

    def _names(self, real: Path, opened: os.stat_result) -> bool:
        """Whether ``real`` still leads, inside the jail, to the file ``opened``."""
        now = Path(os.path.realpath(real))
        if now != real or self.root not in now.parents:
            return False
        status = now.stat()
        return (status.st_dev, status.st_ino) == (opened.st_dev, opened.st_ino)

    def lookup(self, requested: str, cwd: JailPath) -> tuple[JailPath, Path] | None:
        """The jail path and real path of what the client asked for, or None."""
        path = resolve(requested, cwd)
        if path is None:
            return None
        real = self.real(path)
        return None if real is None else (path, real)

    def entry(self, path: JailPath) -> Entry | None:
        """What a client may know of ``path``, or None if it is nothing in the jail."""
        real = self.real(path)
        if real is None:
            return None
        st = real.stat()
        name = path.parts[-1] if path.parts else "/"
        return Entry(name, stat.S_ISDIR(st.st_mode), st.st_size, st.st_mtime, st.st_mode)

    def listing(self, path: JailPath) -> list[Entry] | None:
        """The entries of folder ``path``, sorted by name; None if it is no folder."""
        real = self.real(path)
        if real is None or not real.is_dir():
            return None
        found = []
        with os.scandir(real) as entries:
            for item in entries:
                if plain_name(item.name):
                    entry = self.entry(JailPath((*path.parts, item.name)))
                    if entry is not None:
                        found.append(entry)
        return sorted(found, key=lambda e: e.name)

    def revision_of(self, path: JailPath) -> int | None:
        """The revision the manifest beside a data file gives (the manifest's own for a
        manifest), or None where there is none."""
        if path.is_root:
            return None
        name = path.parts[-1]
        if not name.endswith(MANIFEST_SUFFIX):
            name += MANIFEST_SUFFIX
        real = self.real(JailPath((*path.parts[:-1], name)))
        if real is None:
            return None
        try:
            revision = json.loads(real.read_bytes()).get("revision")
        except (OSError, ValueError, AttributeError):
            return None
        return revision if isinstance(revision, int) else None
