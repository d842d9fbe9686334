"""MQTT topic names and topic filters (spec section 4.7): validity and matching."""

from __future__ import annotations

from kenshin.entrypoints.mqtt.data_representation import MAX_U16

SHARE_PREFIX = "$share/"


def _fits(text: str) -> bool:
    """Whether ``text`` is a non-empty MQTT string: encodable, no U+0000, at most 65,535 bytes."""
    if not text or "\x00" in text:
        return False
    try:
        return len(text.encode("utf-8")) <= MAX_U16
    except UnicodeEncodeError:
        return False


def valid_topic_name(topic: str) -> bool:
    """Whether ``topic`` may name a PUBLISH topic: non-empty, no ``+`` or ``#`` wildcard."""
    return _fits(topic) and "+" not in topic and "#" not in topic


def _split_shared(topic_filter: str) -> tuple[str | None, str]:
    """The share name and inner filter of ``$share/{name}/{filter}``; (None, filter) otherwise."""
    if not topic_filter.startswith(SHARE_PREFIX):
        return None, topic_filter
    name, _, inner = topic_filter[len(SHARE_PREFIX) :].partition("/")
    return name, inner


def valid_topic_filter(topic_filter: str) -> bool:
    """Whether ``topic_filter`` is a well-formed SUBSCRIBE filter.

    ``+`` must fill a whole level, ``#`` a whole level and the last one. A shared
    subscription ``$share/{name}/{filter}`` needs a name without wildcards and a filter.
    """
    if not _fits(topic_filter):
        return False
    share_name, inner = _split_shared(topic_filter)
    if share_name is not None and (
        not share_name or "+" in share_name or "#" in share_name or not inner
    ):
        return False
    levels = inner.split("/")
    for i, level in enumerate(levels):
        if level == "#" and i != len(levels) - 1:
            return False
        if level not in ("+", "#") and ("+" in level or "#" in level):
            return False
    return True


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether a PUBLISH to ``topic`` matches the subscription ``topic_filter``.

    ``+`` matches one level (an empty one too), ``#`` the parent level and every level
    below it. Topics starting with ``$`` are not matched by a filter starting with a
    wildcard. A shared filter matches what its inner filter matches.
    """
    if not valid_topic_filter(topic_filter) or not valid_topic_name(topic):
        return False
    _, inner = _split_shared(topic_filter)
    if topic.startswith("$") and inner[0] in "+#":
        return False
    pattern = inner.split("/")
    levels = topic.split("/")
    for i, want in enumerate(pattern):
        if want == "#":
            return True
        if i >= len(levels) or (want != "+" and want != levels[i]):
            return False
    return len(pattern) == len(levels)
