"""Recording changes in the audit log, and reading it back as CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Sequence

from kenshin.domain.operators import Actor, AuditEntry
from kenshin.ports.operators import AuditLog

Json = dict[str, object] | list[object] | str | int | None  # what before/after may be

CSV_COLUMNS = ("seq", "at", "who", "role", "action", "kind", "key", "before", "after", "source")


def record(  # noqa: PLR0913 - the audit log's fields, by keyword
    log: AuditLog,
    actor: Actor,
    *,
    action: str,
    kind: str,
    key: str,
    before: Json = None,
    after: Json = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Append one change by ``actor``: ``action`` (``devices.revoke``) on the ``kind``
    object ``key``, its state ``before`` and ``after`` (JSON-able, None where there is
    none); the entry's ``seq``."""
    entry = AuditEntry(
        at=int(clock()),
        who=actor.who,
        role=actor.role,
        action=action,
        kind=kind,
        key=key,
        before=_json(before),
        after=_json(after),
        source=actor.source,
    )
    return log.append(entry)


def as_csv(entries: Sequence[AuditEntry]) -> str:
    """The entries as CSV with a header line, times as UTC ISO 8601."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.at))
        writer.writerow(
            (e.seq, at, e.who, e.role, e.action, e.kind, e.key, e.before, e.after, e.source)
        )
    return out.getvalue()


def _json(value: Json) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)
