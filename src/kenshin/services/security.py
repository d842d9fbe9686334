"""Security events: every refusal that may be an attack, logged with its details and counted.

The endpoint and the file servers report here (a refused certificate, a topic
outside a unit's own, a failed login...); the alerting issue turns them into alerts.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from kenshin.domain.model import SecurityEvent

log = logging.getLogger(__name__)

# A TLS handshake of the device endpoint that failed, by why:
TLS_NO_CERTIFICATE = "tls_no_certificate"  # no client certificate
TLS_CERTIFICATE_REFUSED = "tls_certificate_refused"  # another CA's, expired, not yet valid...
TLS_VERSION_REFUSED = "tls_version_refused"  # below TLS 1.2
TLS_NOT_TLS = "tls_not_tls"  # plain TCP, HTTP, or other bytes that are not TLS
TLS_HANDSHAKE_TIMEOUT = "tls_handshake_timeout"  # no handshake within the connect timeout
TLS_HANDSHAKE_ABANDONED = "tls_handshake_abandoned"  # closed or reset by the other end
TLS_HANDSHAKE_FAILED = "tls_handshake_failed"  # any other TLS failure (OpenSSL's reason)

# A login to the file servers (FTPS, SFTP) that was refused, by why:
LOGIN_FAILED = "login_failed"  # wrong password, no such account, no key accepted, no TLS
LOGIN_LOCKED = "login_locked"  # the address or the account is locked after repeated failures
LOGIN_ADDRESS_REFUSED = "login_address_refused"  # not in the account's allow-list
FTP_BOUNCE_REFUSED = "ftp_bounce_refused"  # active mode to another address or a privileged port

# A unit refused after its handshake, or something it sent, by why:
CERTIFICATE_REFUSED = "certificate_refused"  # revoked, no device id as CN, or not registered
CONNECTIONS_LIMITED = "connections_limited"  # too many still connecting from its address or cert
CONNECT_TIMEOUT = "connect_timeout"  # no CONNECT by the deadline (mqtt.connect_timeout_s)
REVOKED_WHILE_CONNECTED = "revoked_while_connected"  # closed: its certificate was revoked
MALFORMED_PACKET = "malformed_packet"  # an MQTT packet that breaks the protocol
CLIENT_ID_MISMATCH = "client_id_mismatch"  # a client id other than its certificate's device
QOS_REFUSED = "qos_refused"  # a publish at QoS 2
PAYLOAD_TOO_LARGE = "payload_too_large"  # a payload above the limit
TOPIC_REFUSED = "topic_refused"  # a publish outside the unit's own topics
PAYLOAD_NAMES_ANOTHER_DEVICE = "payload_names_another_device"  # readings for another device


class SecurityLog:
    """Records security events: a WARNING log line each, a count by kind, and each event
    with its time to ``sink`` if one is given (the alerts keep them). The sink is called
    on the endpoint's event loop: it must return at once and not raise
    (``services.alerting.SecurityEventBuffer`` holds events for the store)."""

    def __init__(
        self,
        sink: Callable[[SecurityEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counts: Counter[str] = Counter()
        self._sink = sink
        self._clock = clock

    def record(self, kind: str, who: str | None, address: str, detail: str) -> None:
        """One event of ``kind`` by ``who`` (a device or account, if known) from ``address``."""
        self.counts[kind] += 1
        log.warning(
            "security event %s: %s from %s: %s",
            kind,
            who or "unknown",
            address,
            detail,
            extra={"fields": {"event": kind, "who": who, "address": address, "detail": detail}},
        )
        if self._sink is not None:
            self._sink(SecurityEvent(kind, int(self._clock()), address, who, detail))
