"""Alert state, notification queues, security events and export failures in DynamoDB:
the DynamoStore's ``alerts``.

TO BE WRITTEN: a stub so that the store imports.
"""

from __future__ import annotations

from kenshin.adapters.dynamo_tables import DynamoTables


class DynamoAlerts:
    """(stub)"""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
