"""PostgreSQL store: registry (to be filled)."""

from __future__ import annotations

from kenshin.adapters.postgres_part import PgPart

SCHEMA = ""


class PgRegistry(PgPart):
    """To be filled."""


class PgCertificates(PgPart):
    """To be filled."""


class PgCommands(PgPart):
    """To be filled."""
