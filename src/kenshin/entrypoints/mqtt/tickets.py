"""One session-ticket key for every endpoint process, so that a unit resumes anywhere.

A unit resumes its TLS session with the ticket of its last connection (TLS 1.3), and
OpenSSL seals each ticket with a key of the TLS context: a key made at random in each
process. The system hands a unit's next connection to whichever endpoint process is
free, and that process could not open a ticket another one sealed: the unit would make
a full handshake instead, costing the server about twice as much. So the server makes
one key at each start and every endpoint process seals and opens tickets with it, as
nginx's workers do. Python's ``ssl`` has no call for this; OpenSSL's own
(``SSL_CTX_ctrl`` with SSL_CTRL_SET_TLSEXT_TICKET_KEYS) is called on the context
Python made, through the OpenSSL that ``_ssl`` itself links. Where that cannot be done
(not CPython, OpenSSL not reachable from ``_ssl`` or of another version, the context not
where CPython keeps it), ``share_ticket_keys`` says so and changes nothing: units then
resume only when they reach the process that sealed their ticket. The key lasts while the
server runs (a restart makes a new one).
"""

from __future__ import annotations

import _ssl
import ctypes
import logging
import os
import ssl
import sys
from functools import cache

log = logging.getLogger(__name__)

TICKET_KEYS_BYTES = 80  # the key's name (16), its HMAC key (32) and its AES key (32)
_SET_TICKET_KEYS = 59  # SSL_CTRL_SET_TLSEXT_TICKET_KEYS
_GET_TICKET_KEYS = 58  # SSL_CTRL_GET_TLSEXT_TICKET_KEYS
_HEADER = object.__basicsize__  # PySSLContext: the object's header, then its SSL_CTX *


def new_ticket_keys() -> bytes:
    """A new key for the endpoint processes' session tickets."""
    return os.urandom(TICKET_KEYS_BYTES)


def share_ticket_keys(context: ssl.SSLContext, keys: bytes) -> bool:
    """Seal and open ``context``'s session tickets with ``keys``; whether it could."""
    if len(keys) != TICKET_KEYS_BYTES:
        raise ValueError(f"ticket keys are {TICKET_KEYS_BYTES} bytes, not {len(keys)}")
    handle = _ssl_ctx(context)
    if handle is None:
        return False
    lib = _libssl()
    assert lib is not None
    buffer = ctypes.create_string_buffer(keys, TICKET_KEYS_BYTES)
    return bool(lib.SSL_CTX_ctrl(handle, _SET_TICKET_KEYS, TICKET_KEYS_BYTES, buffer))


def ticket_keys(context: ssl.SSLContext) -> bytes | None:
    """The key ``context`` seals its tickets with, None if it cannot be read."""
    handle = _ssl_ctx(context)
    lib = _libssl()
    if handle is None or lib is None:
        return None
    buffer = ctypes.create_string_buffer(TICKET_KEYS_BYTES)
    if not lib.SSL_CTX_ctrl(handle, _GET_TICKET_KEYS, TICKET_KEYS_BYTES, buffer):
        return None
    return buffer.raw


def _ssl_ctx(context: ssl.SSLContext) -> int | None:
    """OpenSSL's SSL_CTX behind ``context``, checked: its options must be the context's."""
    lib = _libssl()
    if lib is None:
        return None
    handle = ctypes.c_void_p.from_address(id(context) + _HEADER).value
    if not handle or lib.SSL_CTX_get_options(handle) != int(context.options):
        log.warning("the TLS context's OpenSSL object was not found where expected")
        return None
    return int(handle)


@cache
def _libssl() -> ctypes.CDLL | None:
    """OpenSSL as Python's ``ssl`` runs on it (its symbols looked up from ``_ssl``'s own
    library, so the very OpenSSL it linked), or None: not CPython, or not that OpenSSL."""
    if sys.implementation.name != "cpython" or not getattr(_ssl, "__file__", None):
        return None
    lib = ctypes.CDLL(_ssl.__file__)
    try:
        version = lib.OpenSSL_version
        lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
        lib.SSL_CTX_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
    except AttributeError:  # OpenSSL inside _ssl, its symbols not exported
        return None
    version.argtypes, version.restype = [ctypes.c_int], ctypes.c_char_p
    if version(0) != ssl.OPENSSL_VERSION.encode():
        return None  # another OpenSSL than the one ssl was built with answers
    return lib
