"""Half-open time ranges [start, end): merging, subtracting and chunking.

The fetch cache uses these to download only what is not yet covered.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

Range = tuple[pd.Timestamp, pd.Timestamp]


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    """Return the union of `ranges` as sorted, non-overlapping, non-touching ranges."""
    ordered = sorted((start, end) for start, end in ranges if end > start)
    merged: list[Range] = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract_ranges(wanted: Range, covered: Iterable[Range]) -> list[Range]:
    """Return the parts of `wanted` that no range in `covered` contains."""
    start, end = wanted
    missing: list[Range] = []
    cursor = start
    for cover_start, cover_end in merge_ranges(covered):
        if cover_end <= cursor or cover_start >= end:
            continue
        if cover_start > cursor:
            missing.append((cursor, min(cover_start, end)))
        cursor = max(cursor, cover_end)
        if cursor >= end:
            break
    if cursor < end:
        missing.append((cursor, end))
    return missing


def intersect_ranges(wanted: Range, covered: Iterable[Range]) -> list[Range]:
    """Return the parts of `wanted` that `covered` contains."""
    start, end = wanted
    return [(max(s, start), min(e, end)) for s, e in merge_ranges(covered) if e > start and s < end]


def split_range(span: Range, size: pd.Timedelta) -> list[Range]:
    """Cut `span` into consecutive pieces of at most `size`."""
    start, end = span
    pieces = []
    while start < end:
        pieces.append((start, min(start + size, end)))
        start = pieces[-1][1]
    return pieces
