"""The ports: what the services need from the outside world, as narrow Protocols, one
module per concern.

Adapters in ``kenshin.adapters`` implement them; ``bootstrap`` picks which. Every
storage backend passes the same contract tests (tests/contract). The value types the
ports carry live in ``kenshin.domain``.
"""

from kenshin.ports.alerts import AlertChannel, AlertHistory, Alerts, ChannelError
from kenshin.ports.delivery import Deliveries, Outbox
from kenshin.ports.operators import AuditLog, Operators
from kenshin.ports.pki import CertificateAuthority, CredentialsOut, IssuedCertificate
from kenshin.ports.readings import (
    Compacting,
    DeadLetters,
    Expiring,
    ReadingDays,
    Readings,
    Revisions,
    Settling,
)
from kenshin.ports.registry import Certificates, CommandQueue, Registry
from kenshin.ports.store import Store
from kenshin.ports.units import TlsState, UnitClocks, UnitConnection, Units

__all__ = [
    "AlertChannel",
    "AlertHistory",
    "Alerts",
    "AuditLog",
    "CertificateAuthority",
    "Certificates",
    "ChannelError",
    "CommandQueue",
    "Compacting",
    "CredentialsOut",
    "DeadLetters",
    "Deliveries",
    "Expiring",
    "IssuedCertificate",
    "Operators",
    "Outbox",
    "ReadingDays",
    "Readings",
    "Registry",
    "Revisions",
    "Settling",
    "Store",
    "TlsState",
    "UnitClocks",
    "UnitConnection",
    "Units",
]
