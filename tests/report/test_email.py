"""The report as a mail: it reaches a real SMTP server at its local time on a fast clock,
with the fleet's exact counts, a plain-text part, an HTML part and the CSV attached."""

from __future__ import annotations

import csv
import io
import smtplib
import socket
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.model import SecurityEvent
from kenshin.domain.slots import day_start
from kenshin.services.report import (
    ReportSettings,
    send_due_report,
)
from report.conftest import LAST, TZ, units

pytestmark = pytest.mark.integration

SETTINGS = ReportSettings(recipients=("ops@example.org", "Night Desk <night@example.org>"))


class Inbox:
    """aiosmtpd's handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Accept and keep the message."""
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    """A running SMTP server on 127.0.0.1: its port and its inbox."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_the_report_arrives_at_eight_with_the_fleets_exact_counts(
    fleet: MemoryStore, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp

    def send(message: EmailMessage) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(message)

    events = [
        SecurityEvent("login_failed", day_start(LAST, TZ) + 600, "203.0.113.5", "C1"),
        SecurityEvent("login_failed", day_start(LAST, TZ) - 600, "203.0.113.5", "C1"),
    ]
    last_sent: date | None = LAST - timedelta(days=1)
    start = day_start(LAST, TZ)
    for now in range(start, start + 34 * 3600, 600):  # to 10:00 the next day, 10 min a step
        last_sent = (
            send_due_report(
                fleet,
                send,
                now=now,
                last_sent=last_sent,
                settings=SETTINGS,
                units=units(),
                events=events,
            )
            or last_sent
        )
    [mail] = inbox.messages
    assert parsedate_to_datetime(mail["Date"]).astimezone(TZ) == datetime(
        2026, 10, 23, 8, 0, tzinfo=TZ
    )
    assert mail["Subject"] == (
        "kenshin data quality 2026-10-22: 129 slots missing, 3 questionable,"
        " 3 silent units, 0 files not collected"
    )
    assert mail["To"] == "ops@example.org, Night Desk <night@example.org>"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None
    assert html is not None
    body = text.get_content().splitlines()
    assert body[0] == "kenshin data quality of Thursday 2026-10-22"
    assert "3 silent units, 0 files not collected, 1 security event." in body
    assert "  - 1 login_failed from 203.0.113.5, by C1" in body
    page = html.get_content()
    assert "First &amp; &lt;Best&gt;" in page
    assert "no reading since 02:30, 129 slots missing" in page
    assert "(power, signal, or a certificate expired or revoked), most likely the weak signal" in (
        page
    )
    attachment, arrivals = mail.iter_attachments()
    assert isinstance(attachment, EmailMessage)
    assert isinstance(arrivals, EmailMessage)
    # The simulated units all send just after :00 and :30: the first minute holds them all.
    assert arrivals.get_filename() == "kenshin-arrivals-2026-10-22.csv"
    spread = arrivals.get_content()
    assert isinstance(spread, str)
    header, first, second, *_ = (line.split(",") for line in spread.splitlines())
    assert (header, first[0], first[2], second) == (
        ["minutes", "messages", "share_percent"],
        "00-04",
        "100.0",
        ["05-09", "0", "0.0"],
    )
    spread_line = "Arrivals spread over the half hour: the busiest minute holds 100 % of"
    assert [line for line in body if line.startswith(spread_line)]
    assert attachment.get_filename() == "kenshin-quality-2026-10-22.csv"
    assert attachment.get_content_type() == "text/csv"
    content = attachment.get_content()
    rows = list(csv.DictReader(io.StringIO(content if isinstance(content, str) else "")))
    assert [(r["meter"], r["missing"], r["questionable"]) for r in rows] == [
        ("M-0000001", "0", "1"),
        ("M-0000002", "43", "0"),
        ("M-0000003", "43", "0"),
        ("M-0000004", "43", "0"),
        ("M-0000012", "0", "1"),
        ("M-0000037", "0", "1"),
    ]
