"""PostgreSQL store: alerts (to be filled)."""

from __future__ import annotations

from kenshin.adapters.postgres_part import PgPart

SCHEMA = ""


class PgAlerts(PgPart):
    """To be filled."""
