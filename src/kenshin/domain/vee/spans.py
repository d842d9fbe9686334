"""Spans: each slot's stretch between the nearest known boundary registers around it.

A slot with both its boundary registers is a span of its own; a gap is one span
from the last known register before it to the first one after it, whose total
energy the two registers give exactly. Everything here works on whole grids at
once: rows are meters, columns slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
MWH_PER_WATT_SLOT = 500  # one watt for half an hour


@dataclass(frozen=True, eq=False)
class Spans:
    """Per slot: its span's first slot and the slot after its last, whether each end's
    register is known, and the span's energy where both are and it is plausible."""

    start: Ints
    end: Ints
    closed: Mask  # both end registers known
    plausible: Mask  # closed, and no register drop beyond a rollover
    total: Ints  # the span's energy (mWh) where plausible, else 0
    unit: Ints  # mWh: estimates are split in whole units of it (1 unless the row says)

    @property
    def length(self) -> Ints:
        """Slots in each slot's span."""
        return self.end - self.start

    @property
    def position(self) -> Ints:
        """Each slot's place in its span, from 0."""
        return np.arange(self.start.shape[1], dtype=np.int64) - self.start


def spans_of(
    known: Mask,
    registers: Ints,
    resolution: Ints,
    modulus: Ints,
    demand_w: Ints,
    unit: Ints | None = None,
) -> Spans:
    """The spans of every slot of rows of boundary ``registers`` (int64, ``known`` where read);
    ``unit`` (mWh, per row, dividing the resolution) is what estimates are split in."""
    width = known.shape[1]
    index = np.arange(width, dtype=np.int64)
    last = np.maximum.accumulate(np.where(known, index, -1), axis=1)[:, :-1]
    after = np.where(known, index, width)[:, ::-1]
    first = np.minimum.accumulate(after, axis=1)[:, ::-1][:, 1:]
    left, right = last >= 0, first < width
    closed = left & right
    lo = np.take_along_axis(registers, np.maximum(last, 0), axis=1)
    hi = np.take_along_axis(registers, np.minimum(first, width - 1), axis=1)
    raw = hi - lo
    wrapped = raw < 0
    raw = np.where(wrapped, raw + modulus[:, None], raw)
    energy = raw * resolution[:, None]
    limit = demand_w[:, None] * (first - last) * MWH_PER_WATT_SLOT
    plausible = closed & (~wrapped | (energy <= limit))
    return Spans(
        start=np.maximum(last, 0),
        end=np.minimum(first, width - 1),
        closed=closed,
        plausible=plausible,
        total=np.where(plausible, energy, 0),
        unit=np.broadcast_to(
            (np.ones_like(resolution) if unit is None else unit)[:, None], closed.shape
        ),
    )


def span_sums(x: npt.NDArray[np.int64], spans: Spans) -> Ints:
    """Each slot's sum of ``x`` over its whole span (exact: integers)."""
    padded = np.zeros((x.shape[0], x.shape[1] + 1), x.dtype)
    np.cumsum(x, axis=1, out=padded[:, 1:])
    return np.asarray(
        np.take_along_axis(padded, spans.end, axis=1)
        - np.take_along_axis(padded, spans.start, axis=1)
    )


def span_prefix(x: npt.NDArray[np.int64], spans: Spans) -> Ints:
    """Each slot's sum of ``x`` from its span's first slot up to and including itself."""
    padded = np.zeros((x.shape[0], x.shape[1] + 1), x.dtype)
    np.cumsum(x, axis=1, out=padded[:, 1:])
    return np.asarray(padded[:, 1:] - np.take_along_axis(padded, spans.start, axis=1))


def long_runs(mask: Mask, shortest: int) -> Mask:
    """Where ``mask`` is True in a run of at least ``shortest`` along its row."""
    rows, width = mask.shape
    padded = np.zeros((rows, width + 1), np.int8)
    padded[:, :width] = mask
    edges = np.diff(padded.ravel(), prepend=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    keep = ends - starts >= shortest
    marks = np.zeros(padded.size + 1, np.int32)
    np.add.at(marks, starts[keep], 1)
    np.add.at(marks, ends[keep], -1)
    return np.asarray(np.cumsum(marks[:-1]).reshape(rows, width + 1)[:, :width] > 0)
