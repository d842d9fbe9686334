"""What the long-running commands (``serve``, ``worker``, ``files``) share: their
listeners, said once they listen, and their handling of SIGTERM and SIGINT."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass

from kenshin.errors import ConfigError

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


def cannot_listen(
    section: str, host: str, port: int, exc: OSError, *, can_disable: bool = True
) -> ConfigError:
    """The error of a listener that cannot have its address: why, and the setting to
    change for that reason (the host for a name not found or an address not of this
    machine, the port for one in use or not allowed)."""
    # pyftpdlib raises its own OSError, the errno only in the text.
    found = re.match(r"\[Errno (-?\d+)\] ", str(exc))
    number = exc.errno or (int(found[1]) if found else None)
    reason = re.sub(r"^\[Errno -?\d+\] |\s*\(while attempting to bind .*\)$", "", str(exc))
    if number is not None and number > 0:
        reason = os.strerror(number)
    if number is not None and (number < 0 or number == errno.EADDRNOTAVAIL):  # getaddrinfo's
        fix = f"set {section}.host to an address of this machine (0.0.0.0: all of them)"
    elif number in (errno.EADDRINUSE, errno.EACCES):
        fix = f"set {section}.port to a free port"
    else:
        fix = f"set {section}.host and {section}.port to an address and port of this machine"
    also = f", or {section}.enabled = false" if can_disable else ""
    return ConfigError(f"{section}: cannot listen on {host} port {port} ({reason}): {fix}{also}")


def on_signals(handler: Callable[[], object]) -> None:
    """Call ``handler`` on SIGTERM and SIGINT (in the running event loop)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handler)
