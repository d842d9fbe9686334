"""Device certificates in the SQLite store: issued, looked up, revoked.

A serial has up to 160 bits, more than an SQLite INTEGER holds: the ``certificates``
table keeps it as 40 lower-case hex digits, which also sort like the numbers.
Each function takes the store's connection; ``SqliteCertificates``, the port, holds the
lock and, for writes, the transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from kenshin.adapters.sqlite_part import SqlitePart
from kenshin.domain.devices import MAX_SERIAL, DeviceCertificate
from kenshin.errors import AlreadyExistsError, NotFoundError, StoreError

_SELECT = "SELECT device, serial, not_after, issued_at, revoked_at FROM certificates"


def check_serial(serial: int) -> None:
    """StoreError unless ``serial`` is one a certificate can have (1..2**160-1)."""
    if not 0 < serial <= MAX_SERIAL:
        raise StoreError(f"SQLite store: serial {serial} is outside 1..2**160-1")


def add(db: sqlite3.Connection, device_id: str, serial: int, not_after: int, at: int) -> None:
    """Record a certificate issued to a device at ``at``; NotFoundError for an unknown
    device, AlreadyExistsError for a serial recorded already."""
    check_serial(serial)
    _check_device(db, device_id)
    if db.execute("SELECT 1 FROM certificates WHERE serial = ?", (_hex(serial),)).fetchone():
        raise AlreadyExistsError(f"certificate serial {serial:x} is recorded already")
    db.execute(
        "INSERT INTO certificates VALUES (?, ?, ?, ?, NULL)",
        (_hex(serial), device_id, not_after, at),
    )


def get(db: sqlite3.Connection, serial: int) -> DeviceCertificate | None:
    """The certificate with this serial, or None."""
    return next(iter(_certificates(db, f"{_SELECT} WHERE serial = ?", (_hex(serial),))), None)


def list_of(db: sqlite3.Connection, device_id: str | None) -> list[DeviceCertificate]:
    """Certificates by device, then oldest issued first; of one device unless None."""
    sql = f"{_SELECT} WHERE ?1 IS NULL OR device = ?1 ORDER BY device, issued_at, serial"
    return _certificates(db, sql, (device_id,))


def revoke(db: sqlite3.Connection, device_id: str, at: int) -> int:
    """Revoke every certificate of the device not revoked yet; how many."""
    _check_device(db, device_id)
    return db.execute(
        "UPDATE certificates SET revoked_at = ? WHERE device = ? AND revoked_at IS NULL",
        (at, device_id),
    ).rowcount


def is_revoked(db: sqlite3.Connection, serial: int) -> bool:
    """Whether the certificate with this serial was revoked."""
    sql = "SELECT 1 FROM certificates WHERE serial = ? AND revoked_at IS NOT NULL"
    return db.execute(sql, (_hex(serial),)).fetchone() is not None


def revoked_serials(db: sqlite3.Connection, since: int | None) -> set[int]:
    """Serials revoked at or after ``since``, or every revoked one."""
    start = -(2**63) if since is None else since  # the smallest INTEGER: every revocation
    rows = db.execute("SELECT serial FROM certificates WHERE revoked_at >= ?", (start,))
    return {int(s, 16) for (s,) in rows}


def _certificates(
    db: sqlite3.Connection, sql: str, args: Sequence[object]
) -> list[DeviceCertificate]:
    rows = db.execute(sql, args).fetchall()
    return [DeviceCertificate(d, int(s, 16), n, i, r) for d, s, n, i, r in rows]


def _check_device(db: sqlite3.Connection, device_id: str) -> None:
    if db.execute("SELECT 1 FROM devices WHERE id = ?", (device_id,)).fetchone() is None:
        raise NotFoundError(f"device {device_id!r} does not exist")


def _hex(serial: int) -> str:
    return f"{serial:040x}"


class SqliteCertificates(SqlitePart):
    """The Certificates port on the store's connection."""

    def add_certificate(self, device_id: str, serial: int, not_after: int, issued_at: int) -> None:
        """Record a certificate issued to a device."""
        check_serial(serial)  # before waiting for the write lock
        with self._writing(f"recording certificate {serial:x}") as db:
            add(db, device_id, serial, not_after, issued_at)

    def get_certificate(self, serial: int) -> DeviceCertificate | None:
        """The certificate with this serial, or None."""
        return self._read("reading certificates", get, serial)

    def list_certificates(self, device_id: str | None = None) -> list[DeviceCertificate]:
        """Certificates by device, then oldest issued first; optionally of one device."""
        return self._read("reading certificates", list_of, device_id)

    def revoke_device(self, device_id: str, at: int) -> int:
        """Revoke every certificate of the device not revoked yet; how many."""
        with self._writing(f"revoking the certificates of {device_id!r}") as db:
            return revoke(db, device_id, at)

    def is_revoked(self, serial: int) -> bool:
        """Whether the certificate with this serial was revoked."""
        return self._read("checking a certificate", is_revoked, serial)

    def revoked_serials(self, since: int | None = None) -> set[int]:
        """Serials revoked at or after ``since``, or every revoked one."""
        return self._read("listing revocations", revoked_serials, since)
