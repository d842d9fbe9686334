"""PostgreSQL store: delivery (to be filled)."""

from __future__ import annotations

from kenshin.adapters.postgres_part import PgPart

SCHEMA = ""


class PgDeliveries(PgPart):
    """To be filled."""
