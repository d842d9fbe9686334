"""Recording changes in the audit log, and reading it back, the whole of it, as CSV.

A CSV cell that a spreadsheet would take for a formula (one starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) is written with a ``'`` before it, as OWASP
advises against CSV injection: a key or name chosen by a client cannot run in the
spreadsheet of whoever opens the export."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterable, Iterator

from kenshin.domain.csvcells import defused
from kenshin.domain.operators import Actor, AuditEntry
from kenshin.ports.operators import AuditLog

Json = dict[str, object] | list[object] | str | int | None  # what before/after may be

PAGE = 5000  # entries read at once for a whole log
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


def whole_log(log: AuditLog, since: int = 0, page: int = PAGE) -> Iterator[AuditEntry]:
    """Every entry made at or after ``since``, oldest first, read ``page`` at a time:
    a first pass walks back through the pages keeping only where each begins, the
    second reads them oldest first (entries made meanwhile are left out)."""
    newest = log.entries(since, 1)
    if not newest:
        return
    bounds = [newest[-1].seq + 1]
    while len(found := log.entries(since, page, bounds[-1])) == page:
        bounds.append(found[0].seq)
    for bound in reversed(bounds):
        yield from log.entries(since, page, bound)


def csv_lines(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """The entries as CSV lines after a header line, times as UTC ISO 8601, every cell
    that could be read as a formula quoted (``'=...``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.at))
        cells = (e.who, e.role, e.action, e.kind, e.key, e.before, e.after, e.source)
        writer.writerow((e.seq, at, *map(defused, cells)))
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def as_csv(entries: Iterable[AuditEntry]) -> str:
    """The entries as CSV text (see ``csv_lines``)."""
    return "".join(csv_lines(entries))


def _json(value: Json) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)
