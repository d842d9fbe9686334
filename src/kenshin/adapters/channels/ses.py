"""The SES alert channel: mail through Amazon SES, with the credentials of the process (on
AWS, the Lambda function's role: no secret in the settings).

Notifications go as one plain-text ``SendEmail`` per send; a whole message made
elsewhere (the daily report, with its HTML and CSV parts) as ``SendRawEmail``. SES
sends only from an identity verified in it, and while the account is in SES's sandbox
only to verified addresses: what it refuses is a ChannelError with SES's reason.
boto3 is the optional extra ``aws``: imported when a channel is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from kenshin.adapters.channels.common import ca_path
from kenshin.config_alerts import SesChannelConfig
from kenshin.domain.alerts import Notification, digest_body, digest_subject
from kenshin.errors import ConfigError
from kenshin.ports import ChannelError

CHARSET = "UTF-8"


class SesClient(Protocol):
    """The calls of a boto3 SES client the channel makes."""

    def send_email(self, **kwargs: object) -> Mapping[str, Any]:
        """Send a mail SES puts together."""

    def send_raw_email(self, **kwargs: object) -> Mapping[str, Any]:
        """Send a whole MIME message."""


@dataclass(frozen=True)
class SesSettings:
    """Who the mail is from and to, and the SES region (None: the environment's)."""

    sender: str
    recipients: tuple[str, ...]
    region: str | None = None
    timeout_s: float = 10.0
    ca_file: str | None = None


class SesChannel:
    """Mail through SES: one plain-text message per send, to every recipient."""

    def __init__(
        self,
        name: str,
        settings: SesSettings,
        site: str = "kenshin",
        client: SesClient | None = None,
    ) -> None:
        self._name = name
        self._settings = settings
        self._site = site
        self._client = client if client is not None else _client(settings)
        self._errors = _errors()

    @property
    def name(self) -> str:
        """The channel's name in the configuration."""
        return self._name

    @property
    def settings(self) -> SesSettings:
        """Who this channel sends as and to."""
        return self._settings

    def send(self, notes: Sequence[Notification]) -> None:
        """Deliver the notifications as one mail; ChannelError saying why it failed."""
        settings = self._settings
        self._call(
            self._client.send_email,
            Source=settings.sender,
            Destination={"ToAddresses": list(settings.recipients)},
            Message={
                "Subject": {"Data": digest_subject(notes, self._site), "Charset": CHARSET},
                "Body": {
                    "Text": {"Data": digest_body(notes, self._site) + "\n", "Charset": CHARSET}
                },
            },
        )

    def deliver(self, message: EmailMessage) -> None:
        """Send ``message`` whole, to the addresses of its headers (SES reads them), or
        this channel's recipients if it names none; ChannelError saying why it failed."""
        named = message.get_all("To", []) + message.get_all("Cc", [])
        to = {} if named else {"Destinations": list(self._settings.recipients)}
        self._call(
            self._client.send_raw_email,
            Source=self._settings.sender,
            RawMessage={"Data": message.as_bytes()},
            **to,
        )

    def _call(self, operation: Callable[..., Mapping[str, Any]], **request: object) -> None:
        try:
            operation(**request)
        except self._errors as exc:
            region = self._settings.region or "the environment's region"
            raise ChannelError(f"SES ({region}) refused the mail: {exc}") from exc


def _client(settings: SesSettings) -> SesClient:
    """A boto3 SES client with the channel's timeout and CA file."""
    boto3, botocore_config = _module("boto3"), _module("botocore.config")
    config = botocore_config.Config(
        connect_timeout=settings.timeout_s,
        read_timeout=settings.timeout_s,
        retries={"max_attempts": 2},
    )
    try:
        client: SesClient = boto3.client(
            "ses", region_name=settings.region, config=config, verify=settings.ca_file or None
        )
    except _errors() as exc:  # no region given, and none in the environment
        raise ConfigError(
            f'region: {exc}: give the SES region, e.g. region = "ap-northeast-1"'
        ) from exc
    return client


def _errors() -> tuple[type[Exception], ...]:
    exceptions = _module("botocore.exceptions")
    return (exceptions.ClientError, exceptions.BotoCoreError)


def _module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(
            f"an ses channel needs boto3, but {exc.name} is not installed:"
            " pip install 'kenshin[aws]'"
        ) from exc


def build(name: str, config: SesChannelConfig, data_dir: Path, site: str) -> SesChannel:
    """The channel ``[alerts.channels.<name>]`` of type ses describes."""
    settings = SesSettings(
        sender=config.sender,
        recipients=tuple(config.to),
        region=config.region or None,
        timeout_s=config.timeout_s,
        ca_file=ca_path(data_dir, config.ca_file),
    )
    return SesChannel(name, settings, site)
