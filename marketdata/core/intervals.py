"""Bar intervals: parse `<N>s|m|h|d` and decide which intervals derive from which.

Intraday intervals (`s`, `m`, `h`) are fixed durations laid on a grid anchored at
each session's open. Daily intervals (`Nd`) count trading sessions, not 24-hour
periods; their `seconds` is the nominal length only (N x 86 400).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

UNIT_SECONDS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86_400}

# One spelling per interval: no leading zeros, no signs, lowercase units
# ("5M" could mean months to a reader, so it is refused rather than guessed).
_INTERVAL_RE = re.compile(r"([1-9][0-9]*)([smhd])")

# Longer intervals have no use for bars and would overflow pd.Timedelta long
# before they overflow int.
MAX_INTERVAL_SECONDS = 366 * 86_400


class IntervalError(ValueError):
    """Raised for text that is not a bar interval."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A bar interval such as 5m: `count` units of `unit` (s, m, h or d)."""

    count: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNIT_SECONDS:
            raise IntervalError(f"interval unit {self.unit!r} is not one of s, m, h, d")
        if isinstance(self.count, bool) or not isinstance(self.count, int):
            raise IntervalError(f"interval count {self.count!r} is not an integer")
        if self.count < 1:
            raise IntervalError(f"interval count {self.count} must be at least 1")
        if self.count * UNIT_SECONDS[self.unit] > MAX_INTERVAL_SECONDS:
            raise IntervalError(f"interval {self} is longer than the maximum of 366 days")

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    @property
    def seconds(self) -> int:
        """Length in seconds (nominal for daily intervals: N x 86 400)."""
        return self.count * UNIT_SECONDS[self.unit]

    @property
    def nanoseconds(self) -> int:
        return self.seconds * 1_000_000_000

    @property
    def timedelta(self) -> pd.Timedelta:
        return pd.Timedelta(seconds=self.seconds)

    @property
    def is_daily(self) -> bool:
        """True for `Nd`: bars built from whole trading sessions."""
        return self.unit == "d"


def parse_interval(text: str) -> Interval:
    """Parse `<N>s`, `<N>m`, `<N>h` or `<N>d` (N >= 1), e.g. "5m", "4h", "1d"."""
    if not isinstance(text, str):
        raise IntervalError(f"interval must be a string like '5m', got {text!r}")
    stripped = text.strip()
    match = _INTERVAL_RE.fullmatch(stripped)
    if match is None:
        shown = repr(text) if len(text) <= 40 else repr(text[:40]) + "..."
        raise IntervalError(
            f"invalid interval {shown}: expected <N>s, <N>m, <N>h or <N>d with N >= 1, e.g. '1m', '5m', '4h', '1d'"
        )
    digits, unit = match.groups()
    if len(digits) > 9:  # past any real interval; and int() refuses thousands of digits
        raise IntervalError(f"interval {digits[:12]}...{unit} is longer than the maximum of 366 days")
    return Interval(int(digits), unit)


def can_derive(target: Interval, base: Interval) -> bool:
    """Say whether bars of `target` can be built exactly from bars of `base`.

    Intraday targets need an intraday base whose length divides theirs: both
    grids start at the session open, so every base bar then falls inside one
    target bar. Daily targets derive from any intraday base, and from a daily
    base whose session count divides theirs.
    """
    if target.is_daily:
        if base.is_daily:
            return target.count % base.count == 0
        return True
    if base.is_daily:
        return False
    return target.seconds % base.seconds == 0
