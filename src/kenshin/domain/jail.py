"""A customer's jail: the path a file client asks for, as names inside the customer's folder.

Both file servers (FTPS and SFTP) resolve every path they are given here first, then
check the real path on disk (``entrypoints.jail_folder``). This part is pure: it turns
what a client typed into the names below the jail's root, or into nothing.

The jail holds plain names only. Nothing here decodes anything: a name that would
mean something else once decoded or normalised (``%2e%2e``, fullwidth dots (U+FF0E),
a backslash, a NUL, a control character) is refused, not interpreted. A dot name is
refused too: temporaries are dot names, and ``..`` above the root goes nowhere.
An absolute path starts at the jail's root, as in a chroot.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_NAME = 255
FOLDER_MODE = 0o750  # a customer's folder of the outbox: the server's group may read it
MAX_PATH = 1024
_FORBIDDEN = frozenset('/\\%\x00:*?"<>|')


@dataclass(frozen=True, slots=True)
class JailPath:
    """A path inside a jail: the names below its root (none for the root itself)."""

    parts: tuple[str, ...]

    @property
    def virtual(self) -> str:
        """The path as the client sees it: ``/`` for the root, ``/name`` below it."""
        return "/" + "/".join(self.parts)

    @property
    def is_root(self) -> bool:
        """Whether this is the jail's root."""
        return not self.parts


ROOT = JailPath(())


def plain_name(name: str) -> bool:
    """Whether ``name`` is a name the jail can hold: printable, not a dot name, no
    separator or escape, unchanged by Unicode compatibility normalisation."""
    return (
        0 < len(name) <= MAX_NAME
        and not name.startswith(".")
        and not any(c in _FORBIDDEN or not c.isprintable() for c in name)
        and unicodedata.normalize("NFKC", name) == name
    )


def resolve(requested: str, cwd: JailPath = ROOT) -> JailPath | None:
    """The jail path ``requested`` names from ``cwd``, or None if it names nothing that
    the jail may hold: a climb above the root, or any name that is not plain."""
    if not requested or len(requested) > MAX_PATH:
        return None if requested else cwd
    parts = [] if requested.startswith("/") else list(cwd.parts)
    for name in requested.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if not parts:
                return None
            parts.pop()
        elif plain_name(name):
            parts.append(name)
        else:
            return None
    return JailPath(tuple(parts))
