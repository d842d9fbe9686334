"""Operators' accounts, their sessions, API tokens and the audit log in DynamoDB: the
DynamoStore's ``operators`` and ``audit``, in the records table under these partition
keys:

- ``operator``: an account, ``sk`` its name;
- ``operator_session``: a session, ``sk`` the digest of its cookie's value (an operator's
  sessions are found by a filter on this partition: there are few);
- ``api_token``: a token, ``sk`` its id; ``api_token_hash``: the same token, ``sk`` its
  digest, for a request's lookup (both written in one transaction);
- ``audit``: the audit log, ``sk`` the entry's seq (padded), from the counter ``audit``.

A seq is taken before its entry is written: an append cut short between the two leaves a
seq unused, and of two appends at once the later seq may be read a moment before the
earlier (seqs increase in order of appending, not always without gaps). The log is only
ever appended to: nothing here updates or deletes its items.
"""

from __future__ import annotations

from itertools import islice

from kenshin.adapters.dynamo_items import (
    Value,
    integer,
    item,
    key,
    padded,
    partition,
    text,
    write_all,
    written,
)
from kenshin.adapters.dynamo_tables import DynamoTables, Item, is_condition_failure
from kenshin.domain.operators import ApiToken, AuditEntry, Operator, OperatorSession, Role

OPERATOR = "operator"
SESSION = "operator_session"
SCRIPT_KEY = "api_token"
BY_DIGEST = "api_token_hash"
AUDIT = "audit"
LAST_SEQ = 10**12 - 1  # the largest seq ``padded`` sorts right: a ``before`` above, no bound


class DynamoOperators:
    """Accounts, sessions and tokens in the records table of ``tables``."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
        self._table = tables.records

    def save_operator(self, operator: Operator) -> None:
        """Add the account, or replace the one of that name."""
        found = item(
            OPERATOR,
            operator.name,
            role=str(operator.role),
            password_hash=operator.password_hash,
            created_at=operator.created_at,
            totp_secret=operator.totp_secret,
            totp_enrolled=int(operator.totp_enrolled),
            last_totp_step=operator.last_totp_step,
            failures=operator.failures,
            locked_until=operator.locked_until,
        )
        self._tables.call("put_item", TableName=self._table, Item=found)

    def get_operator(self, name: str) -> Operator | None:
        """The account named ``name``, or None."""
        found = self._tables.get(self._table, key(OPERATOR, name))
        return None if found is None else _operator(found)

    def list_operators(self) -> list[Operator]:
        """Every account, by name."""
        return [_operator(found) for found in partition(self._tables, OPERATOR)]

    def remove_operator(self, name: str) -> bool:
        """Remove the account with its sessions; False when there was none."""
        self.remove_sessions(operator=name)
        answer = self._tables.call(
            "delete_item", TableName=self._table, Key=key(OPERATOR, name), ReturnValues="ALL_OLD"
        )
        return "Attributes" in answer

    def accept_totp_step(self, name: str, step: int) -> bool:
        """Record ``step`` as the last accepted step if later than the recorded one, in
        one conditional write; False when it is not (a code used again) or there is no
        account."""
        return written(
            self._tables,
            "update_item",
            TableName=self._table,
            Key=key(OPERATOR, name),
            UpdateExpression="SET last_totp_step = :step",
            ConditionExpression="attribute_exists(pk) AND last_totp_step < :step",
            ExpressionAttributeValues={":step": {"N": str(step)}},
        )

    def count_failure(
        self, name: str, now: int, max_failures: int, lockout_s: int
    ) -> Operator | None:
        """Count a failed sign-in with an ADD (none is lost of failures at once); the one
        that reaches ``max_failures`` locks the account with a write conditional on the
        count (of two that see it reached, one locks: the other finds the count reset)."""
        try:
            answer = self._tables.call(
                "update_item",
                TableName=self._table,
                Key=key(OPERATOR, name),
                UpdateExpression="ADD failures :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            return None
        counted = _operator(answer["Attributes"])
        if counted.failures < max_failures:
            return counted
        written(
            self._tables,
            "update_item",
            TableName=self._table,
            Key=key(OPERATOR, name),
            UpdateExpression="SET failures = :zero, locked_until = :until",
            ConditionExpression="failures >= :max",
            ExpressionAttributeValues={
                ":zero": {"N": "0"},
                ":until": {"N": str(now + lockout_s)},
                ":max": {"N": str(max_failures)},
            },
        )
        return self.get_operator(name)

    def clear_failures(self, name: str) -> None:
        """Forget the account's failed sign-ins and lift its lock."""
        written(
            self._tables,
            "update_item",
            TableName=self._table,
            Key=key(OPERATOR, name),
            UpdateExpression="SET failures = :zero, locked_until = :zero",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )

    def save_session(self, session: OperatorSession) -> None:
        """Add the session, or replace the one with its ``id_hash``."""
        found = item(
            SESSION,
            session.id_hash,
            operator=session.operator,
            role=str(session.role),
            created_at=session.created_at,
            expires_at=session.expires_at,
            csrf=session.csrf,
            address=session.address,
            enrolling=int(session.enrolling),
        )
        self._tables.call("put_item", TableName=self._table, Item=found)

    def get_session(self, id_hash: str) -> OperatorSession | None:
        """The session whose cookie digests to ``id_hash``, or None."""
        found = self._tables.get(self._table, key(SESSION, id_hash))
        return None if found is None else _session(found)

    def touch_session(self, id_hash: str, expires_at: int) -> bool:
        """Move the session's ``expires_at``; False when there is no such session."""
        return written(
            self._tables,
            "update_item",
            TableName=self._table,
            Key=key(SESSION, id_hash),
            UpdateExpression="SET expires_at = :until",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":until": {"N": str(expires_at)}},
        )

    def remove_sessions(
        self,
        *,
        id_hash: str | None = None,
        operator: str | None = None,
        expired_before: int | None = None,
    ) -> int:
        """Remove one session, every session of an operator, or those expired; how many."""
        gone = {id_hash} if id_hash is not None else set()
        if operator is not None:
            gone.update(self._sessions_where("#f = :v", "operator", {"S": operator}))
        if expired_before is not None:
            gone.update(self._sessions_where("#f < :v", "expires_at", {"N": str(expired_before)}))
        removed = 0
        for each in sorted(gone):
            answer = self._tables.call(
                "delete_item", TableName=self._table, Key=key(SESSION, each), ReturnValues="ALL_OLD"
            )
            removed += "Attributes" in answer
        return removed

    def _sessions_where(self, condition: str, field: str, value: dict[str, str]) -> list[str]:
        """The digests of the sessions whose ``field`` meets ``condition`` (a filter on
        the sessions' partition: there are few)."""
        return [
            found["sk"]["S"]
            for found in self._tables.query(
                self._table,
                KeyConditionExpression="pk = :pk",
                FilterExpression=condition,
                ProjectionExpression="sk",
                ExpressionAttributeNames={"#f": field},
                ExpressionAttributeValues={":pk": {"S": SESSION}, ":v": value},
            )
        ]

    def save_token(self, token: ApiToken) -> None:
        """Add the API token (with its item by digest, in one transaction)."""
        values: dict[str, Value] = {
            "id": token.id,
            "name": token.name,
            "role": str(token.role),
            "token_hash": token.token_hash,
            "created_by": token.created_by,
            "created_at": token.created_at,
            "expires_at": token.expires_at,
        }
        write_all(
            self._tables,
            [item(SCRIPT_KEY, token.id, **values), item(BY_DIGEST, token.token_hash, **values)],
        )

    def get_token(self, token_hash: str) -> ApiToken | None:
        """The token that digests to ``token_hash``, or None."""
        found = self._tables.get(self._table, key(BY_DIGEST, token_hash))
        return None if found is None else _token(found)

    def list_tokens(self) -> list[ApiToken]:
        """Every API token, by when made."""
        tokens = [_token(found) for found in partition(self._tables, SCRIPT_KEY)]
        return sorted(tokens, key=lambda t: (t.created_at, t.id))

    def remove_token(self, token_id: str) -> bool:
        """Remove the token; False when there was none."""
        found = self._tables.get(self._table, key(SCRIPT_KEY, token_id))
        if found is None:
            return False
        write_all(
            self._tables,
            deletes=[key(SCRIPT_KEY, token_id), key(BY_DIGEST, text(found, "token_hash"))],
        )
        return True


class DynamoAuditLog:
    """The audit log in the records table of ``tables``."""

    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
        self._table = tables.records

    def append(self, entry: AuditEntry) -> int:
        """Add ``entry``; its ``seq``."""
        seq = self._tables.next_number(AUDIT)
        values: dict[str, Value] = {
            "at": entry.at,
            "who": entry.who,
            "role": entry.role,
            "action": entry.action,
            "kind": entry.kind,
            "key": entry.key,
            "before": entry.before,
            "after": entry.after,
            "source": entry.source,
        }
        self._tables.call(
            "put_item", TableName=self._table, Item=item(AUDIT, padded(seq), **values)
        )
        return seq

    def entries(
        self, since: int = 0, limit: int = 1000, before: int | None = None
    ) -> list[AuditEntry]:
        """Entries made at or after ``since`` (of ``seq`` below ``before``, if given),
        oldest first, the newest ``limit``."""
        if limit <= 0:
            return []
        below, values = "", {":pk": {"S": AUDIT}, ":since": {"N": str(since)}}
        if before is not None and before <= LAST_SEQ:
            below, values[":before"] = " AND sk < :before", {"S": padded(max(0, before))}
        newest = self._tables.query(
            self._table,
            KeyConditionExpression=f"pk = :pk{below}",
            FilterExpression="#at >= :since",
            ExpressionAttributeNames={"#at": "at"},
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
        )
        found = list(islice(newest, limit))
        return [_entry(each) for each in reversed(found)]


def _operator(found: Item) -> Operator:
    secret = found.get("totp_secret")
    return Operator(
        text(found, "sk"),
        Role(text(found, "role")),
        text(found, "password_hash"),
        integer(found, "created_at"),
        None if secret is None else bytes(secret["B"]),
        bool(integer(found, "totp_enrolled")),
        integer(found, "last_totp_step"),
        integer(found, "failures"),
        integer(found, "locked_until"),
    )


def _session(found: Item) -> OperatorSession:
    return OperatorSession(
        text(found, "sk"),
        text(found, "operator"),
        Role(text(found, "role")),
        integer(found, "created_at"),
        integer(found, "expires_at"),
        text(found, "csrf"),
        text(found, "address"),
        bool(integer(found, "enrolling")),
    )


def _token(found: Item) -> ApiToken:
    return ApiToken(
        text(found, "id"),
        text(found, "name"),
        Role(text(found, "role")),
        text(found, "token_hash"),
        text(found, "created_by"),
        integer(found, "created_at"),
        integer(found, "expires_at"),
    )


def _entry(found: Item) -> AuditEntry:
    return AuditEntry(
        integer(found, "at"),
        text(found, "who"),
        text(found, "role"),
        text(found, "action"),
        text(found, "kind"),
        text(found, "key"),
        text(found, "before"),
        text(found, "after"),
        text(found, "source"),
        int(text(found, "sk")),
    )
