"""PostgreSQL store: readings (to be filled)."""

from __future__ import annotations

from kenshin.adapters.postgres_part import PgPart

SCHEMA = ""


class PgReadings(PgPart):
    """To be filled."""


class PgDeadLetters(PgPart):
    """To be filled."""


class PgRevisions(PgPart):
    """To be filled."""
