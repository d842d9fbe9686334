"""Security events: every refusal that may be an attack, logged with its details and counted.

The endpoint and the file servers report here (a refused certificate, a topic
outside a unit's own, a failed login...); the alerting issue turns them into alerts.
"""

from __future__ import annotations

import logging
from collections import Counter

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


class SecurityLog:
    """Records security events: a WARNING log line each, and a count by kind."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def record(self, kind: str, who: str | None, address: str, detail: str) -> None:
        """One event of ``kind`` by ``who`` (a device or account, if known) from ``address``."""
        self.counts[kind] += 1
        log.warning("security event %s: %s from %s: %s", kind, who or "unknown", address, detail)
