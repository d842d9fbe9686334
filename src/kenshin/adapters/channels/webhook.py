"""The generic webhook alert channel: one JSON POST per send, with extra headers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kenshin.adapters.channels.web import HttpChannel, http_settings
from kenshin.config_alerts import WebhookChannelConfig
from kenshin.domain.alerts import Notification, body, subject
from kenshin.domain.slots import iso_utc


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


class WebhookChannel(HttpChannel):
    """A generic JSON webhook: one POST per send (``webhook_payload``)."""

    _payload = staticmethod(webhook_payload)


def build(name: str, config: WebhookChannelConfig, data_dir: Path, site: str) -> WebhookChannel:
    """The channel ``[alerts.channels.<name>]`` of type webhook describes."""
    return WebhookChannel(name, http_settings(config, data_dir), site)
