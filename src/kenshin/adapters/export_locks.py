"""One export of a customer's files at a time: the locks of the stores that keep no
server's lock (the memory store, and SQLite's, which is one machine's).

Two exports of the same files at once would both read the newest revision, both publish
and both record the next number: the later file would replace the newer one under the
same revision, with older data. Each export holds its customer's lock from reading the
newest revision to recording its own.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from kenshin.domain.model import CUSTOMER_ID
from kenshin.errors import StoreError


class ExportLocks(Protocol):
    """The customers' export locks (``Revisions.exporting``)."""

    def exporting(self, customer_id: str) -> AbstractContextManager[None]:
        """Held by one export of the customer's files at a time."""


class ProcessExportLocks:
    """The customers' locks among the threads of this process."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def exporting(self, customer_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(customer_id, threading.Lock())
        with lock:
            yield


class FileExportLocks:
    """The customers' locks among every process of the machine: an exclusive ``flock``
    on a file of ``folder`` per customer, which the kernel lets go when its holder ends
    in any way. A lock is taken on a file opened anew, so threads of one process take
    turns too."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    @contextmanager
    def exporting(self, customer_id: str) -> Iterator[None]:
        path = self._folder / _file_name(customer_id)
        try:
            self._folder.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the export lock {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits for another export of the customer
            yield
        finally:
            os.close(fd)  # the lock goes with it


def _file_name(customer_id: str) -> str:
    """The customer's id where it is a plain name (a registered customer's always is)."""
    if CUSTOMER_ID.fullmatch(customer_id):
        return f"{customer_id}.lock"
    return hashlib.sha256(customer_id.encode()).hexdigest()[:32] + ".lock"
