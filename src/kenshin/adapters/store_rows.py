"""Rows of the SQL stores (SQLite, PostgreSQL) to values and back: the same columns and
encodings in both, so that the two read and write alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import Any

from kenshin.domain.accounts import Account, UnlockRequest
from kenshin.domain.alerts import Alert, Event, Notification, Queued, Severity
from kenshin.domain.model import Customer, FlagColumns, Labels, Layout, Meter, Reading, SlotLabels
from kenshin.domain.operators import ApiToken, AuditEntry, Operator, OperatorSession, Role
from kenshin.domain.vee.clock import DriftSpell, UnitClock

ClockRow = tuple[str, int, int, int, int, int | None, int | None, int | None]


def account_row(account: Account) -> tuple[str, str | None, str, str]:
    """The account as (customer, password_hash, ssh_keys, allowed): the keys one a line,
    the allowed networks separated by spaces."""
    keys, allowed = "\n".join(account.ssh_keys), " ".join(account.allowed)
    return (account.customer, account.password_hash, keys, allowed)


def account(customer_id: str, row: Sequence[Any]) -> Account:
    """The account of a (password_hash, ssh_keys, allowed) row."""
    keys = tuple(k for k in row[1].split("\n") if k)
    return Account(customer_id, row[0], keys, tuple(row[2].split()))


def unlock(row: Sequence[Any]) -> UnlockRequest:
    """The request of an (id, customer, address, requested_at, done_at, cleared) row;
    ``cleared`` one address a line."""
    request_id, customer, address, requested_at, done_at, cleared = row
    lines = tuple(line for line in cleared.split("\n") if line)
    return UnlockRequest(request_id, customer, address, requested_at, done_at, lines)


def alert(row: Sequence[Any]) -> Alert:
    """The alert of a (key, severity, title, text, customer, since, zone) row."""
    key, severity, title, text, customer, since, zone = row
    return Alert(key, Severity(severity), title, text, customer, since, zone)


def queued(row: Sequence[Any]) -> Queued:
    """The queued notification of an (id, channel, attempts, last_error, event, at, key,
    severity, title, text, customer, since, zone) row."""
    return Queued(row[0], row[1], Notification(Event(row[4]), alert(row[6:]), row[5]), *row[2:4])


def clock(row: ClockRow) -> UnitClock:
    """The clock of a (device, last_seen, window_start, window_min, window_count, offset_s,
    spell_start, spell_offset_s) row."""
    device, last_seen, window, low, count, offset, spell_start, spell_offset = row
    spell = None
    if spell_start is not None and spell_offset is not None:
        spell = DriftSpell(device, spell_start, None, spell_offset)
    return UnitClock(device, last_seen, window, low, count, offset, spell)


def clock_row(clock: UnitClock) -> ClockRow:
    """The row of a clock (see ``clock``)."""
    spell = clock.spell
    return (
        clock.device,
        clock.last_seen,
        clock.window,
        clock.window_min,
        clock.window_count,
        clock.offset_s,
        None if spell is None else spell.start,
        None if spell is None else spell.offset_s,
    )


def customer(row: Sequence[Any]) -> Customer:
    """A customer from its columns, in the order of its fields (the enums as their text)."""
    return Customer(
        row[0],
        row[1],
        row[2],
        row[3],
        Layout(row[4]),
        Labels(row[5]),
        row[6],
        row[7],
        SlotLabels(row[8]),
        FlagColumns(row[9]),
    )


def sent_lag(reading: Reading) -> int | None:
    """When the unit sent the reading as seconds after its time (a small number, where
    the time itself would take 8 bytes a row); None where not known."""
    return reading.sent - reading.t if reading.sent else None


def sent_lags(readings: Sequence[Reading]) -> list[int | None]:
    """``sent_lag`` of each reading, in order."""
    return list(map(sent_lag, readings))


def sent_at(t: int, lag: int | None) -> int:
    """The send time of a reading at ``t`` stored with ``lag``: 0 where not known."""
    return 0 if lag is None else t + lag


def meter_row(meter: Meter) -> tuple[object, ...]:
    """The columns a meter is inserted with: id, device, spec, maximum demand, reverse
    register and time in service."""
    spec = (meter.spec.unit_mwh, meter.spec.coefficient, meter.spec.digits)
    service = (meter.installed_at, meter.removed_at)
    return (meter.id, meter.device, *spec, meter.max_demand_w, meter.reverse, *service)


# Operators, their sessions, API tokens and the audit log: their columns in the order of
# the domain types' fields (the role as its text, the flags as booleans), the audit
# log's ``seq`` first.


def operator(row: Sequence[Any]) -> Operator:
    """The account of a row of its columns."""
    name, role, hashed, created, secret, enrolled, step, failures, locked = row
    secret = None if secret is None else bytes(secret)
    return Operator(
        name, Role(role), hashed, created, secret, bool(enrolled), step, failures, locked
    )


def session(row: Sequence[Any]) -> OperatorSession:
    """The session of a row of its columns."""
    id_hash, name, role, created, expires, csrf, address, enrolling = row
    return OperatorSession(
        id_hash, name, Role(role), created, expires, csrf, address, bool(enrolling)
    )


def token(row: Sequence[Any]) -> ApiToken:
    """The API token of a row of its columns."""
    return ApiToken(row[0], row[1], Role(row[2]), *row[3:])


def audit_entry(row: Sequence[Any]) -> AuditEntry:
    """The entry of a row of ``seq`` and its other columns."""
    seq, at, who, role, action, kind, key, before, after, source = row
    return AuditEntry(at, who, role, action, kind, key, before, after, source, seq)


def operator_row(account: Operator) -> tuple[object, ...]:
    """The columns of an account."""
    return (account.name, str(account.role), *astuple(account)[2:])


def session_row(session: OperatorSession) -> tuple[object, ...]:
    """The columns of a session."""
    fields = astuple(session)
    return (*fields[:2], str(session.role), *fields[3:])


def token_row(token: ApiToken) -> tuple[object, ...]:
    """The columns of an API token."""
    fields = astuple(token)
    return (*fields[:2], str(token.role), *fields[3:])


def audit_row(entry: AuditEntry) -> tuple[object, ...]:
    """The columns of an entry (its ``seq`` is the log's to give)."""
    return astuple(entry)[:-1]
