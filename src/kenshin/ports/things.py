"""The units' things at a cloud broker (AWS IoT Core), beside kenshin's own record of them.

Where a site's units connect to AWS IoT Core, each unit is a thing named by its device
id, and each certificate kenshin issues it is registered there too: attached to the
thing and to the units' policy, active until kenshin revokes it. kenshin's store stays
the record; ``services.things`` keeps the broker in step with it. ``adapters.iot_core``
is the adapter.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from kenshin.errors import KenshinError


class ThingsError(KenshinError):
    """The cloud broker refused a change or could not be reached; the message names the
    device, what was being done and why."""


class Things(Protocol):
    """The units' things at a cloud broker and the certificates they connect with."""

    @property
    def where(self) -> str:
        """Where they are, as a person reads it (``AWS IoT Core in ap-northeast-1``)."""

    def unfit(self, device_ids: Sequence[str]) -> list[str]:
        """The ids among ``device_ids`` that cannot name a thing."""

    def enrol(self, device_id: str, certificate_pem: bytes) -> None:
        """Register the unit's certificate, make its thing if it has none, attach the
        certificate to the thing and to the units' policy, then make it active; done
        again, it changes nothing. ThingsError if it cannot: the certificate is then
        not active."""

    def active_serials(self, device_id: str) -> set[int]:
        """The serials of the active certificates attached to the unit's thing (none when
        there is no thing)."""

    def revoke(self, device_id: str, keep: Collection[int] = ()) -> int:
        """Make every active certificate of the unit's thing inactive but those whose
        serials are in ``keep``: how many. They stay attached, as a record."""
