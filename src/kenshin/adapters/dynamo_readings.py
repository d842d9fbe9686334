"""Register readings, their conflicts, dead letters and file revisions in DynamoDB: the
DynamoStore's ``readings``, ``dead_letters`` and ``revisions``.

TO BE WRITTEN: a stub so that the store imports.
"""

from __future__ import annotations

from kenshin.adapters.dynamo_tables import DynamoTables


class DynamoReadings:
    """(stub)"""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables


class DynamoDeadLetters:
    """(stub)"""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables


class DynamoRevisions:
    """(stub)"""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
