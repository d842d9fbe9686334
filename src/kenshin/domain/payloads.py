"""The payload codecs by topic suffix: a unit publishes each kind of message to
``dt/kenshin/{device}/{suffix}``.

A new payload format is one module with its decoder and its ``CODEC``
(``payload_codec.PayloadCodec``) and one line in ``CODECS``; ``status`` is not a
payload of readings and is answered by the endpoint itself.
"""

from __future__ import annotations

from kenshin.domain import echonet, readings_json
from kenshin.domain.payload_codec import PayloadCodec

CODECS: dict[str, PayloadCodec] = {
    readings_json.CODEC.suffix: readings_json.CODEC,
    echonet.CODEC.suffix: echonet.CODEC,
}
