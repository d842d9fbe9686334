"""An alert silenced by an operator: no notification while the silence lasts, and one
when it ends if the alert is still active (a real store, a local HTTP server as Slack)."""

from __future__ import annotations

from kenshin.adapters.channels.slack import SlackChannel
from kenshin.adapters.channels.web import HttpSettings
from kenshin.config_alerts import AlertsConfig, RouteConfig
from kenshin.domain.alerts import AlertMark
from kenshin.domain.observations import ComponentDown, Observations
from kenshin.ports import Store
from kenshin.services.alerting import Alerting

from .conftest import HttpSink

NOW = 1_795_752_000
DOWN = ComponentDown("device endpoint", NOW - 120, "TLS files missing")
DISK = ComponentDown("file server", NOW - 60, "port in use")


def test_a_silenced_alert_is_not_notified_until_its_silence_ends(
    store: Store, http_sink: HttpSink
) -> None:
    slack = SlackChannel("slack", HttpSettings(http_sink.url("/slack"), allow_http=True))
    settings = AlertsConfig(repeat_minutes=240, routes=(RouteConfig(channel="slack"),))
    watch = Alerting(store, [slack], settings)
    until = NOW + 3600
    store.alerts.mark_alert(AlertMark("down:device endpoint", silenced_until=until))
    for minute in range(0, 60, 20):  # silenced: the other alert only
        watch.tick(Observations(NOW + minute * 60, down=[DOWN, DISK]))
    during = [b["text"] for b in http_sink.bodies("/slack")]
    watch.tick(Observations(until, down=[DOWN, DISK]))
    after = [b["text"] for b in http_sink.bodies("/slack")][len(during) :]
    assert during == ["[kenshin CRITICAL] Not running: file server"]
    assert after == ["[kenshin CRITICAL] still: Not running: device endpoint"]
