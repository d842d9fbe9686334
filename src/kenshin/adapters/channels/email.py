"""The email alert channel: SMTP, one plain-text message per send to every recipient.

The server's certificate is verified (the system's CAs, or ``ca_file``); SMTP without
TLS must be asked for and then allows no login.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from kenshin.adapters.channels.common import ca_path, read_secret, tls_context
from kenshin.config_alerts import EmailChannelConfig
from kenshin.domain.alerts import Notification, digest_body, digest_subject
from kenshin.errors import ConfigError
from kenshin.ports import ChannelError

log = logging.getLogger(__name__)

SMTP_SECURITY = ("starttls", "tls", "none")


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


def build(name: str, config: EmailChannelConfig, data_dir: Path, site: str) -> SmtpChannel:
    """The channel ``[alerts.channels.<name>]`` of type email describes."""
    secret = config.password_file
    password = read_secret(data_dir, secret, "password_file") if secret else None
    settings = SmtpSettings(
        host=config.host,
        sender=config.sender,
        recipients=tuple(config.recipients),
        port=config.port,
        security=config.security,
        username=config.username or None,
        password=password,
        timeout_s=config.timeout_s,
        ca_file=ca_path(data_dir, config.ca_file),
    )
    return SmtpChannel(name, settings, site)
