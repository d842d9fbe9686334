"""What the channels that POST JSON to a URL share (Slack, the generic webhook).

URLs must be ``https://`` and the certificate is verified; a plain ``http://`` URL must
be asked for (``allow_http``). Each send is one POST; an answer other than 2xx, or
none, is a ChannelError so that the sender keeps the notifications queued.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kenshin.adapters.channels.common import ca_path, read_secret, tls_context
from kenshin.config_alerts import SlackChannelConfig, WebhookChannelConfig
from kenshin.domain.alerts import Notification
from kenshin.errors import ConfigError
from kenshin.ports import ChannelError

ERROR_BODY = 200  # characters of a refusing server's answer kept in the error


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


@dataclass(frozen=True)
class HttpSettings:
    """Where a webhook posts: the URL (a secret for Slack), extra headers, the timeout."""

    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_s: float = 10.0
    ca_file: str | None = None
    allow_http: bool = False


class HttpChannel:
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


def http_settings(
    config: SlackChannelConfig | WebhookChannelConfig, data_dir: Path
) -> HttpSettings:
    """Where a channel of the config posts: its URL read from ``url_file`` if given there."""
    url = config.url or read_secret(data_dir, config.url_file, "url_file")
    headers = dict(config.headers) if isinstance(config, WebhookChannelConfig) else {}
    ca_file = ca_path(data_dir, config.ca_file)
    return HttpSettings(url, headers, config.timeout_s, ca_file, config.allow_http)
