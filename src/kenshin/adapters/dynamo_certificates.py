"""Device certificates in DynamoDB, issued, looked up, revoked: the DynamoStore's
``certificates``.

A serial has up to 160 bits, more than a DynamoDB number holds exactly: keys keep it as
40 lower-case hex digits, which sort like the numbers. Its partitions of the records
table:

- ``certificate``: a certificate per item, ``sk`` its serial;
- ``device-certificates#`` + a device's id: the serials of that device's certificates
  (written with the certificate in one transaction; revoking a device finds them here);
- ``revoked``: an item per revocation, ``sk`` its time (``sortable``) and the serial, so
  that the revocations since a time are one Query. It is written before the
  certificate is marked: a revocation cut short is done again, never left out of a CRL.
"""

from __future__ import annotations

from kenshin.adapters.dynamo_items import (
    DEVICE,
    exists,
    key,
    number,
    numbers,
    partition,
    put,
    sortable,
    transact,
    written,
)
from kenshin.adapters.dynamo_tables import DynamoTables, Item
from kenshin.domain.devices import MAX_SERIAL, DeviceCertificate
from kenshin.errors import AlreadyExistsError, NotFoundError, StoreError

CERTIFICATE = "certificate"
DEVICE_CERTIFICATES = "device-certificates#"  # + a device's id: its certificates' serials
REVOKED = "revoked"


def check_serial(serial: int) -> None:
    """StoreError unless ``serial`` is one a certificate can have (1..2**160-1)."""
    if not 0 < serial <= MAX_SERIAL:
        raise StoreError(f"DynamoDB store: serial {serial} is outside 1..2**160-1")


class DynamoCertificates:
    """The Certificates port in the records table."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def add_certificate(self, device_id: str, serial: int, not_after: int, issued_at: int) -> None:
        """Record a certificate issued to a device; NotFoundError for an unknown device,
        AlreadyExistsError for a serial recorded already, StoreError for a serial outside
        1..MAX_SERIAL."""
        check_serial(serial)
        tables = self._tables
        certificate = DeviceCertificate(device_id, serial, not_after, issued_at)
        failed = transact(
            tables,
            [
                exists(tables, DEVICE, device_id),
                put(tables, _certificate_item(certificate), "attribute_not_exists(pk)"),
                put(tables, key(DEVICE_CERTIFICATES + device_id, _hex(serial))),
            ],
            f"recording certificate {serial:x}",
        )
        if failed and failed[0]:
            raise NotFoundError(f"device {device_id!r} does not exist")
        if failed:
            raise AlreadyExistsError(f"certificate serial {serial:x} is recorded already")

    def get_certificate(self, serial: int) -> DeviceCertificate | None:
        """The certificate with this serial, or None if none was recorded."""
        if not 0 < serial <= MAX_SERIAL:
            return None  # none can have been recorded
        item = self._tables.get(self._tables.records, key(CERTIFICATE, _hex(serial)))
        return None if item is None else _certificate_of(item)

    def list_certificates(self, device_id: str | None = None) -> list[DeviceCertificate]:
        """Certificates by device, then oldest issued first (then by serial); optionally
        of one device."""
        if device_id is None:
            items = list(partition(self._tables, CERTIFICATE))
        else:
            items = self._of_device(device_id)
        found = map(_certificate_of, items)
        return sorted(found, key=lambda c: (c.device, c.issued_at, c.serial))

    def revoke_device(self, device_id: str, at: int) -> int:
        """Revoke, as of ``at``, every certificate of the device not revoked yet; how many.
        NotFoundError for an unknown device."""
        if self._tables.get(self._tables.records, key(DEVICE, device_id)) is None:
            raise NotFoundError(f"device {device_id!r} does not exist")
        live = [item["sk"]["S"] for item in self._of_device(device_id) if "revoked_at" not in item]
        revocations = [key(REVOKED, f"{sortable(at)}#{serial}") for serial in live]
        self._tables.write_many(self._tables.records, revocations)
        return sum(self._mark_revoked(serial, at) for serial in live)

    def is_revoked(self, serial: int) -> bool:
        """Whether the certificate with this serial was revoked (False if never recorded)."""
        certificate = self.get_certificate(serial)
        return certificate is not None and certificate.revoked_at is not None

    def revoked_serials(self, since: int | None = None) -> set[int]:
        """Serials revoked at or after ``since`` (UTC epoch s), or every revoked one."""
        start = None if since is None else sortable(since)
        items = partition(self._tables, REVOKED, start)
        return {int(item["sk"]["S"].split("#")[1], 16) for item in items}

    def _of_device(self, device_id: str) -> list[Item]:
        """The items of the device's certificates, in no set order."""
        index = partition(self._tables, DEVICE_CERTIFICATES + device_id)
        keys = [key(CERTIFICATE, item["sk"]["S"]) for item in index]
        return self._tables.get_many(self._tables.records, keys)

    def _mark_revoked(self, serial: str, at: int) -> bool:
        """Mark the certificate revoked at ``at`` unless it was already: whether it was not."""
        return written(
            self._tables,
            "update_item",
            TableName=self._tables.records,
            Key=key(CERTIFICATE, serial),
            UpdateExpression="SET revoked_at = :at",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(revoked_at)",
            ExpressionAttributeValues={":at": {"N": str(at)}},
        )  # not: revoked meanwhile, by another process


def _hex(serial: int) -> str:
    return f"{serial:040x}"


def _certificate_item(certificate: DeviceCertificate) -> Item:
    item = {**key(CERTIFICATE, _hex(certificate.serial)), "device": {"S": certificate.device}}
    values = {
        "not_after": certificate.not_after,
        "issued_at": certificate.issued_at,
        "revoked_at": certificate.revoked_at,
    }
    return numbers(item, values)


def _certificate_of(item: Item) -> DeviceCertificate:
    return DeviceCertificate(
        item["device"]["S"],
        int(item["sk"]["S"], 16),
        int(item["not_after"]["N"]),
        int(item["issued_at"]["N"]),
        number(item, "revoked_at"),
    )
