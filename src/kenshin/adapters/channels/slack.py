"""The Slack alert channel: one Block Kit message per send to an incoming-webhook URL."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kenshin.adapters.channels.web import HttpChannel, http_settings
from kenshin.config_alerts import SlackChannelConfig
from kenshin.domain.alerts import Event, Notification, body, digest_subject, subject

SLACK_BLOCKS = 45  # Slack takes at most 50 blocks in a message
SLACK_SECTION = 3000  # characters in one section's text
SLACK_HEADER = 150  # characters in a header


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


class SlackChannel(HttpChannel):
    """Slack, through an incoming-webhook URL: one Block Kit message per send."""

    _payload = staticmethod(slack_message)


def build(name: str, config: SlackChannelConfig, data_dir: Path, site: str) -> SlackChannel:
    """The channel ``[alerts.channels.<name>]`` of type slack describes."""
    return SlackChannel(name, http_settings(config, data_dir), site)
