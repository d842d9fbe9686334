"""Security events: every refusal that may be an attack, logged with its details and counted.

The endpoint and the file servers report here (a refused certificate, a topic
outside a unit's own, a failed login...); the alerting issue turns them into alerts.
"""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger(__name__)

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
