"""What the long-running commands (``serve``, ``worker``, ``files``) share: their
listeners, said once they listen, and their handling of SIGTERM and SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listener:
    """One address the server listens on."""

    protocol: str
    host: str
    port: int

    @property
    def line(self) -> str:
        """How it is said: 'listening: FTPS on 0.0.0.0 port 2121'."""
        return f"listening: {self.protocol} on {self.host} port {self.port}"


def announce(listeners: list[Listener], on_listening: Callable[[list[Listener]], None]) -> None:
    """Log each listener, then hand them to ``on_listening``."""
    for listener in listeners:
        log.info("%s", listener.line)
    on_listening(listeners)


def on_signals(handler: Callable[[], object]) -> None:
    """Call ``handler`` on SIGTERM and SIGINT (in the running event loop)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handler)
