"""The endpoint's listening socket: accepts TCP connections, each a ``TlsStream``.

The loop calls ``accept`` when the socket is readable; each connection gets
TCP_NODELAY (MQTT packets are small and each waits for its answer) and a server
TLS object whose handshake the caller does.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable

from kenshin.entrypoints.listeners import cannot_listen
from kenshin.entrypoints.mqtt.tls import TlsStream

log = logging.getLogger(__name__)

ACCEPTS_PER_WAKE = 64  # connections accepted per readiness event
BACKLOG = 4096  # connections the kernel holds before they are accepted (a fleet reconnecting)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on ``host`` and ``port`` (0: any free port); ConfigError
    naming ``mqtt.host`` or ``mqtt.port`` if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=BACKLOG)
    except OSError as exc:
        raise cannot_listen("mqtt", host, port, exc, can_disable=False) from exc


class TlsListener:
    """Listens on ``host`` and ``port`` (0: any free port), or accepts on ``sock``
    (listening already), and hands over each connection."""

    def __init__(
        self,
        host: str,
        port: int,
        tls: ssl.SSLContext,
        on_stream: Callable[[TlsStream], None],
        *,
        sock: socket.socket | None = None,
    ) -> None:
        self._sock = sock or listening_socket(host, port)
        self._sock.setblocking(False)
        self._tls = tls
        self._on_stream = on_stream
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._accept)

    @property
    def address(self) -> tuple[str, int]:
        """The host and port listened on."""
        host, port = self._sock.getsockname()[:2]
        return host, port

    def close(self) -> None:
        """Accept no more connections."""
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                raw, peer = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, say: the next wake tries again
                log.warning("could not accept a connection: %s", exc)
                return
            try:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                tls = self._tls.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            except OSError:  # the connection went at once
                raw.close()
                continue
            self._on_stream(TlsStream(tls, _address(peer)))


def _address(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
