"""Which connections the endpoint takes: so many still connecting at once from one
address and with one certificate, and certificates of registered devices.

A connection counts from its accept until its CONNECT is accepted, or until it
ends: all the while it costs the endpoint and has proven nothing. Beyond the
limits the endpoint closes it at once. A unit that is connected counts no more,
so a unit reconnecting, or many units behind one carrier NAT address, are held
back only while they handshake. An address counts as the login guard counts it: an
IPv4 address, or the /64 of an IPv6 one. A certificate of kenshin's CA is not enough: its
device must be registered, and the store must hold the certificate as that
device's (``registration_refusal``), or the unit's CONNECT is refused.
"""

from __future__ import annotations

from collections import Counter
from typing import TypeVar

from kenshin.ports import Store
from kenshin.services.login_guard import address_key

_K = TypeVar("_K", str, int)


class Admission:
    """Counts the connections still connecting, by address and by certificate serial."""

    def __init__(self, per_address: int, per_certificate: int) -> None:
        self.per_address = per_address
        self.per_certificate = per_certificate
        self._addresses: Counter[str] = Counter()
        self._certificates: Counter[int] = Counter()

    def enter(self, address: str) -> Connecting | None:
        """A connection just accepted from ``address`` ("host:port"): its count, or None
        when its host (its IPv6 /64) has ``per_address`` connections still connecting."""
        host = address_key(address.rpartition(":")[0] or address)
        if self._addresses[host] >= self.per_address:
            return None
        self._addresses[host] += 1
        return Connecting(self, host)

    def _leave(self, host: str, serial: int | None) -> None:
        _decrement(self._addresses, host)
        if serial is not None:
            _decrement(self._certificates, serial)


class Connecting:
    """One connection counted until ``release`` (once CONNECT is accepted, or it ends)."""

    __slots__ = ("_admission", "_host", "_released", "_serial")

    def __init__(self, admission: Admission, host: str) -> None:
        self._admission = admission
        self._host = host
        self._serial: int | None = None
        self._released = False

    def certify(self, serial: int) -> bool:
        """Count the connection under its certificate too; False (and not counted) when
        that certificate has ``per_certificate`` connections still connecting."""
        counts = self._admission._certificates
        if self._released or counts[serial] >= self._admission.per_certificate:
            return False
        counts[serial] += 1
        self._serial = serial
        return True

    def release(self) -> None:
        """The connection is connected, or gone: it counts no more (a second call does nothing)."""
        if not self._released:
            self._released = True
            self._admission._leave(self._host, self._serial)


def _decrement(counts: Counter[_K], key: _K) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


def registration_refusal(store: Store, device: str, serial: int) -> str | None:
    """Why a unit's certificate of our CA, naming ``device`` and not revoked, may not
    connect all the same (None: it may): its device is not registered, or the store has
    no record of the certificate as that device's."""
    if store.registry.get_device(device) is None:
        return f"device {device!r} is not registered"
    certificate = store.certificates.get_certificate(serial)
    if certificate is None or certificate.device != device:
        return f"certificate serial {serial:x} is not recorded as issued to device {device!r}"
    return None
