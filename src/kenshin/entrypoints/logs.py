"""Logging of every command: readable lines on a terminal, JSON lines otherwise.

A service manager, a container runtime or a log shipper reads standard error as a
stream of records; one JSON object per line keeps each record whole and its fields
apart. Fields given with ``extra={"fields": {...}}`` (a security event's kind, who,
address...) are written as fields of their own.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the
    record's ``fields`` and, for an exception, its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: int, stream: TextIO | None = None) -> None:
    """Log at ``level`` to ``stream`` (standard error): text on a terminal, JSON lines
    otherwise."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    terminal = hasattr(stream, "isatty") and stream.isatty()
    handler.setFormatter(logging.Formatter(TEXT_FORMAT) if terminal else JsonLines())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
