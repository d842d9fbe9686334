"""Customers' accounts, receipts, unlock requests and failed logins in DynamoDB: the
DynamoStore's ``deliveries``.

TO BE WRITTEN: a stub so that the store imports.
"""

from __future__ import annotations

from kenshin.adapters.dynamo_tables import DynamoTables


class DynamoDeliveries:
    """(stub)"""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
