"""What kenshin's Lambda functions share: the App, built once per cold start from the
environment the stack sets; their log lines, one JSON object each; and CloudWatch
metrics in the embedded metric format.

The environment: ``KENSHIN_CONFIG`` (the settings file, ``/opt/kenshin/kenshin.toml``
by default), ``KENSHIN_<SECTION>__<KEY>`` over it as everywhere (the stack sets
``KENSHIN_STORE__URL``, ``KENSHIN_EXPORT__OUTBOX`` and ``KENSHIN_EXPORT__OUTBOX_KMS_KEY``),
``KENSHIN_DATA_DIR`` (the data folder: one the function may write, ``/tmp/kenshin``,
made if it is missing) and ``KENSHIN_AWS_STAGE`` (the metrics' ``Stage`` dimension).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from kenshin.bootstrap import App, open_app
from kenshin.entrypoints import logs

DEFAULT_CONFIG = "/opt/kenshin/kenshin.toml"
NAMESPACE = "kenshin"  # of the metrics

T = TypeVar("T")

# The time the handlers work at; tests fix it here.
clock: Callable[[], float] = time.time


class ColdStart:
    """The App of one cold start, and what each handler keeps between its invocations."""

    def __init__(self) -> None:
        self._app: App | None = None
        self._kept: dict[str, object] = {}

    @property
    def app(self) -> App:
        """The App of the environment's settings, opened at the first call."""
        if self._app is None:
            self._app = _open()
        return self._app

    def kept(self, name: str, make: Callable[[App], T]) -> T:
        """What ``make`` builds from the App, once per cold start."""
        if name not in self._kept:
            self._kept[name] = make(self.app)
        found: T = self._kept[name]  # type: ignore[assignment]  # made by make: a T
        return found

    def reset(self) -> None:
        """Close the App and forget everything: the next invocation starts cold."""
        self._kept.clear()
        if self._app is not None:
            self._app.close()
            self._app = None


cold_start = ColdStart()


def now() -> int:
    """The time of this invocation, UTC epoch s."""
    return int(clock())


def _open() -> App:
    """Configure JSON logging, then the App from the environment."""
    logs.configure(logging.WARNING, sys.stderr)
    config = Path(os.environ.get("KENSHIN_CONFIG") or DEFAULT_CONFIG)
    make_data_dir(os.environ)
    app = open_app(config)
    logging.getLogger().setLevel(app.settings.logging.level)
    return app


def make_data_dir(environ: Mapping[str, str]) -> None:
    """Make the data folder ``KENSHIN_DATA_DIR`` names (``/tmp/kenshin``: it is not
    there at a cold start)."""
    data_dir = environ.get("KENSHIN_DATA_DIR")
    if data_dir:
        Path(data_dir).mkdir(parents=True, exist_ok=True)


def metric_line(values: Mapping[str, int], at_ms: int, stage: str) -> str:
    """One log line in CloudWatch's embedded metric format: each of ``values`` a count
    in namespace ``kenshin``, with the dimension ``Stage``."""
    document = {
        "_aws": {
            "Timestamp": at_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Stage"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in values],
                }
            ],
        },
        "Stage": stage,
        **values,
    }
    return json.dumps(document, separators=(",", ":"))


def emit_metrics(values: Mapping[str, int]) -> None:
    """Write ``values`` to standard output as metrics CloudWatch takes from the log."""
    stage = os.environ.get("KENSHIN_AWS_STAGE", "")
    sys.stdout.write(metric_line(values, int(clock() * 1000), stage) + "\n")
    sys.stdout.flush()
