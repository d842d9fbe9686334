"""The daily report's arrival spread, read from a sample of meters.

The readings of the day keep when their units sent them; the spread is read from up to
SAMPLE_METERS meters, taken evenly from the sorted list, which tells the shape of a
million units' day from a few thousand readings' worth of reading.
"""

from __future__ import annotations

from collections.abc import Sequence

from kenshin.domain.report_spread import ArrivalSpread, arrival_spread
from kenshin.ports import Readings

SAMPLE_METERS = 2000


def day_arrivals(
    readings: Readings, meter_ids: Sequence[str], start: int, end: int
) -> ArrivalSpread:
    """When the messages of ``start`` <= t < ``end`` were sent, over a sample of the meters."""
    ids = sorted(meter_ids)
    step = max(1, -(-len(ids) // SAMPLE_METERS))
    sample = ids[::step]
    sent = (
        (meter, r.sent)
        for meter, found in readings.readings_between(sample, start, end - 1)
        for r in found
    )
    return arrival_spread(sent, start, len(sample))
