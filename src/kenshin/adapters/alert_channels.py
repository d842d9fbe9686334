"""Alert channels: email over SMTP, Slack through an incoming webhook, a generic JSON webhook.

Each sends one message per call (one notification, or several as a digest) and raises
ChannelError when it could not, so that the sender keeps them queued. TLS certificates
are verified by default (the system's CAs, or ``ca_file``); a plain ``http://`` webhook
or SMTP without TLS must be asked for explicitly.
"""

from __future__ import annotations

import http.client
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

from kenshin.domain.alerts import Event, Notification, body, digest_body, digest_subject, subject
from kenshin.domain.slots import iso_utc
from kenshin.errors import ConfigError
from kenshin.ports import ChannelError

log = logging.getLogger(__name__)

SMTP_SECURITY = ("starttls", "tls", "none")
SLACK_BLOCKS = 45  # Slack takes at most 50 blocks in a message
SLACK_SECTION = 3000  # characters in one section's text
SLACK_HEADER = 150  # characters in a header
ERROR_BODY = 200  # characters of a refusing server's answer kept in the error


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A client context that verifies the server: the system's CAs, or ``ca_file``'s."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the mail server: ``security`` is starttls (port 587), tls (implicit,
    port 465) or none (only without a login, inside a trusted network)."""

    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0
    ca_file: str | None = None

    def check(self, name: str) -> None:
        """ConfigError naming the channel and the fix for settings that cannot work."""
        if self.security not in SMTP_SECURITY:
            raise ConfigError(
                f"alert channel {name!r}: security {self.security!r} is not one of"
                f" {', '.join(SMTP_SECURITY)}"
            )
        if not self.recipients or not self.sender:
            raise ConfigError(f"alert channel {name!r}: give a sender and at least one recipient")
        if self.security == "none" and self.username:
            raise ConfigError(
                f"alert channel {name!r}: a login over SMTP without TLS would send the password"
                " in clear: use security 'starttls' or 'tls'"
            )
        if (self.username is None) != (self.password is None):
            raise ConfigError(f"alert channel {name!r}: give both a username and a password")


class SmtpChannel:
    """Email: one plain-text message per send, to every recipient."""

    def __init__(self, name: str, settings: SmtpSettings, site: str = "kenshin") -> None:
        settings.check(name)
        self._name = name
        self._settings = settings
        self._site = site
        self._context = None if settings.security == "none" else tls_context(settings.ca_file)

    @property
    def name(self) -> str:
        """The channel's name in the configuration."""
        return self._name

    def message(self, notes: Sequence[Notification]) -> EmailMessage:
        """The email for these notifications."""
        settings = self._settings
        message = EmailMessage()
        message["Subject"] = digest_subject(notes, self._site)
        message["From"] = settings.sender
        message["To"] = ", ".join(settings.recipients)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
        message.set_content(digest_body(notes, self._site) + "\n")
        return message

    @property
    def settings(self) -> SmtpSettings:
        """Where and how this channel sends."""
        return self._settings

    def send(self, notes: Sequence[Notification]) -> None:
        """Deliver the notifications as one email; ChannelError saying why it failed."""
        self.deliver(self.message(notes))

    def deliver(self, message: EmailMessage) -> None:
        """Send ``message`` (to its own recipients) through this channel's server;
        ChannelError saying why it failed."""
        settings = self._settings
        where = f"SMTP {settings.host}:{settings.port}"
        try:
            with self._connect() as smtp:
                if settings.security == "starttls":
                    smtp.starttls(context=self._context)
                if settings.username is not None and settings.password is not None:
                    smtp.login(settings.username, settings.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelError(f"{where} does not offer STARTTLS (or login): {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"{where}: {exc}") from exc
        if refused:  # the others have it: sending again would repeat it to them
            who = ", ".join(f"{r} ({code} {why!r})" for r, (code, why) in sorted(refused.items()))
            log.error("%s refused recipients of alert channel %s: %s", where, self._name, who)

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        if settings.security == "tls":
            return smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_s, context=self._context
            )
        return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)


def _checked_url(name: str, url: str, allow_http: bool) -> str:
    parts = urlsplit(url)
    if (parts.scheme == "https" or (parts.scheme == "http" and allow_http)) and parts.hostname:
        return url
    raise ConfigError(
        f"alert channel {name!r}: {url!r} is not an https:// URL"
        + ("" if allow_http else " (plain http:// only with allow_http = true)")
    )


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    context: ssl.SSLContext,
) -> None:
    """POST ``payload`` as JSON; ChannelError unless the server answers 2xx."""
    data = json.dumps(payload, ensure_ascii=False).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme was checked: http(s) only
        url,
        data=data,
        headers={"Content-Type": "application/json; charset=utf-8", **headers},
        method="POST",
    )
    where = urlsplit(url).netloc
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as answer:  # noqa: S310
            answer.read()
    except urllib.error.HTTPError as exc:
        text = exc.read(ERROR_BODY).decode(errors="replace")
        raise ChannelError(f"{where} answered {exc.code} {exc.reason}: {text}") from exc
    except urllib.error.URLError as exc:
        raise ChannelError(f"{where}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:  # timeouts, not HTTP
        raise ChannelError(f"{where}: {type(exc).__name__}: {exc}") from exc


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SLACK_ICON = {Event.RESOLVED: ":white_check_mark:", Event.REPEAT: ":repeat:"}
_SEVERITY_ICON = {
    "critical": ":red_circle:",
    "warning": ":warning:",
    "info": ":information_source:",
}


def slack_message(notes: Sequence[Notification], site: str = "kenshin") -> dict[str, Any]:
    """A Block Kit message: a header, a section per notification (within Slack's limits,
    the rest listed by subject), and a context line of severity, key and customer."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(digest_subject(notes, site), SLACK_HEADER)},
        }
    ]
    shown = notes if len(notes) <= SLACK_BLOCKS // 2 else notes[: SLACK_BLOCKS // 2 - 1]
    for note in shown:
        alert = note.alert
        icon = _SLACK_ICON.get(note.event, _SEVERITY_ICON.get(alert.severity, ""))
        text = f"{icon} *{_slack_escape(subject(note, site))}*\n{_slack_escape(body(note))}"
        customer = f" · customer {alert.customer}" if alert.customer else ""
        blocks += [
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SLACK_SECTION)}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "plain_text",  # the key may hold what a client typed
                        "text": f"{alert.severity} · {alert.key}{customer}",
                    }
                ],
            },
        ]
    rest = notes[len(shown) :]
    if rest:
        lines = "\n".join(f"• {_slack_escape(subject(n, site))}" for n in rest)
        text = f"*{len(rest)} more:*\n{lines}"
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SLACK_SECTION)}}
        )
    return {"text": digest_subject(notes, site), "blocks": blocks}


@dataclass(frozen=True)
class HttpSettings:
    """Where a webhook posts: the URL (a secret for Slack), extra headers, the timeout."""

    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_s: float = 10.0
    ca_file: str | None = None
    allow_http: bool = False


class _HttpChannel:
    """A channel that POSTs each message as JSON, made by ``_payload``."""

    def __init__(self, name: str, settings: HttpSettings, site: str = "kenshin") -> None:
        _checked_url(name, settings.url, settings.allow_http)
        self._name = name
        self._settings = settings
        self._site = site
        self._context = tls_context(settings.ca_file)

    @property
    def name(self) -> str:
        """The channel's name in the configuration."""
        return self._name

    def send(self, notes: Sequence[Notification]) -> None:
        """Post the notifications as one message; ChannelError saying why it failed."""
        s = self._settings
        payload = self._payload(notes, self._site)
        post_json(s.url, payload, headers=s.headers, timeout_s=s.timeout_s, context=self._context)

    @staticmethod
    def _payload(notes: Sequence[Notification], site: str) -> dict[str, Any]:
        raise NotImplementedError


class SlackChannel(_HttpChannel):
    """Slack, through an incoming-webhook URL: one Block Kit message per send."""

    _payload = staticmethod(slack_message)


def webhook_payload(notes: Sequence[Notification], site: str = "kenshin") -> dict[str, Any]:
    """The generic webhook's JSON: the site and one object per notification."""
    return {
        "source": site,
        "notifications": [
            {
                "event": str(n.event),
                "key": n.alert.key,
                "severity": str(n.alert.severity),
                "title": n.alert.title,
                "text": n.alert.text,
                "customer": n.alert.customer,
                "since": iso_utc(n.alert.since),
                "at": iso_utc(n.at),
                "subject": subject(n, site),
                "body": body(n),
            }
            for n in notes
        ],
    }


class WebhookChannel(_HttpChannel):
    """A generic JSON webhook: one POST per send (``webhook_payload``)."""

    _payload = staticmethod(webhook_payload)
