"""Units' clocks, drift spells and statuses in DynamoDB: the DynamoStore's ``unit_clocks``.

TO BE WRITTEN: a stub so that the store imports.
"""

from __future__ import annotations

from kenshin.adapters.dynamo_tables import DynamoTables


class DynamoUnitClocks:
    """(stub)"""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
