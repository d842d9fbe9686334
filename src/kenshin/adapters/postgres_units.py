"""PostgreSQL store: units (to be filled)."""

from __future__ import annotations

from kenshin.adapters.postgres_part import PgPart

SCHEMA = ""


class PgUnitClocks(PgPart):
    """To be filled."""
