"""Customers, devices, meters, certificates and commands in DynamoDB: the DynamoStore's
``registry``, ``certificates`` and ``commands``.

TO BE WRITTEN: a stub so that the store imports.
"""

from __future__ import annotations

from kenshin.adapters.dynamo_tables import DynamoTables


class DynamoRegistry:
    """(stub)"""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables


class DynamoCertificates:
    """(stub)"""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables


class DynamoCommands:
    """(stub)"""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
