"""The indicators the built-in strategies need, twice: over a whole array and bar by bar.

Standard definitions, matching marketdata.core.indicators:
- SMA(n): mean of the last n closes; NaN for the first n - 1 bars.
- Bollinger(n, k): middle = SMA(n), bands = middle +/- k x population std (ddof=0).
- RSI(n), Wilder: average gain and loss of close-to-close changes, seeded with their
  mean over the first n changes, then avg = (avg x (n - 1) + x) / n; first value at
  index n; 100 when the average loss is 0, 50 when both averages are 0.

Each array function and its incremental twin do the same float operations in the
same order, so both engines see bit-identical indicator values and never disagree
on a crossing: SMA from a running sum (np.cumsum adds in sequence), the deviation
sum oldest to newest, Wilder's recursion as a loop over Python floats (a recursion
numpy cannot vectorize without numba or scipy; about 0.3 us a bar).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

# Two values closer than this (relative) count as equal: a flat market must not flip a
# position on rounding noise (a 10-bar and a 50-bar mean of equal closes differ by ulps).
RELATIVE_TOLERANCE = 1e-10


def sma(values: np.ndarray, length: int, running: np.ndarray | None = None) -> np.ndarray:
    """Simple moving average from a running sum; NaN until `length` values exist.

    `running` = np.cumsum(values), when several averages of the same values share it.
    """
    x = np.asarray(values, dtype=np.float64)
    if len(x) < length:
        return np.full(len(x), np.nan)
    if running is None:
        running = np.cumsum(x)
    out = np.empty(len(x))
    out[: length - 1] = np.nan
    out[length - 1] = running[length - 1] / length
    tail = out[length:]
    np.subtract(running[length:], running[:-length], out=tail)
    tail /= length
    return out


def population_std(values: np.ndarray, length: int, mean: np.ndarray) -> np.ndarray:
    """Rolling population standard deviation around `mean` (the SMA of the same window)."""
    x = np.asarray(values, dtype=np.float64)
    out = np.full(len(x), np.nan)
    count = len(x) - length + 1
    if count <= 0:
        return out
    window_mean = mean[length - 1 :]
    squares = np.zeros(count)
    for offset in range(length):  # oldest to newest, as the incremental twin adds
        deviation = x[offset : offset + count] - window_mean
        squares += deviation * deviation
    out[length - 1 :] = np.sqrt(squares / length)
    return out


def bollinger(values: np.ndarray, length: int, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (middle, upper, lower) bands."""
    middle = sma(values, length)
    spread = k * population_std(values, length, middle)
    return middle, middle + spread, middle - spread


def rsi(values: np.ndarray, length: int) -> np.ndarray:
    """Wilder's RSI; NaN for the first `length` bars."""
    x = np.asarray(values, dtype=np.float64)
    out = np.full(len(x), np.nan)
    if len(x) <= length:
        return out
    change = np.diff(x)
    gains = np.maximum(change, 0.0)
    losses = np.maximum(-change, 0.0)
    avg_gain = float(np.cumsum(gains[:length])[-1]) / length
    avg_loss = float(np.cumsum(losses[:length])[-1]) / length
    result = [_rsi_value(avg_gain, avg_loss)]
    keep = length - 1
    for gain, loss in zip(gains[length:].tolist(), losses[length:].tolist(), strict=True):
        avg_gain = (avg_gain * keep + gain) / length
        avg_loss = (avg_loss * keep + loss) / length
        result.append(_rsi_value(avg_gain, avg_loss))
    out[length:] = result
    return out


def _rsi_value(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0.0:
        return 100.0 if avg_gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


def above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`a > b` by more than the relative tolerance (False where either is NaN)."""
    with np.errstate(invalid="ignore"):
        return (a - b) > RELATIVE_TOLERANCE * np.abs(b)


def below(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`a < b` by more than the relative tolerance (False where either is NaN)."""
    with np.errstate(invalid="ignore"):
        return (b - a) > RELATIVE_TOLERANCE * np.abs(b)


def above_below(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (`above(a, b)`, `below(a, b)`) from one difference (b - a is exactly -(a - b))."""
    with np.errstate(invalid="ignore"):
        difference = a - b
        if np.ndim(b) != 1 or np.shape(b) != np.shape(difference) or not np.size(b):
            return _beyond_tolerance(difference, b)
        # Beyond the largest tolerance the sign decides (rounding is monotonic); only the
        # differences within it, and NaN, are compared with their own tolerance.
        bound = RELATIVE_TOLERANCE * max(float(np.fmax.reduce(b)), -float(np.fmin.reduce(b)))
        is_above, is_below = difference > bound, difference < -bound
        unsure = (is_above == is_below).nonzero()[0]  # neither (bound >= 0 or NaN: never both)
        is_above[unsure], is_below[unsure] = _beyond_tolerance(difference[unsure], b[unsure])
        return is_above, is_below


def _beyond_tolerance(difference: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (difference > tolerance, difference < -tolerance), tolerance = RELATIVE_TOLERANCE x |b|."""
    tolerance = np.abs(b)
    tolerance *= RELATIVE_TOLERANCE
    is_above = difference > tolerance
    np.negative(tolerance, out=tolerance)
    return is_above, difference < tolerance


def is_above(a: float, b: float) -> bool:
    """Scalar twin of `above`."""
    return (a - b) > RELATIVE_TOLERANCE * abs(b)


def is_below(a: float, b: float) -> bool:
    """Scalar twin of `below`."""
    return (b - a) > RELATIVE_TOLERANCE * abs(b)


def hold_between(enter: np.ndarray, leave: np.ndarray) -> np.ndarray:
    """Return 1.0 from each `enter` bar until the next `leave` bar (exclusive), else 0.0.

    On a bar with both, `enter` wins; a bar with neither keeps the previous state.
    """
    return holds(hold_flips(enter, leave), len(enter))


def hold_flips(enter: np.ndarray, leave: np.ndarray) -> np.ndarray:
    """Return the bars where the state of `hold_between` flips, in order (it starts flat).

    Each bar gets a code, 0 (neither), 1 (leave), 2 or 3 (enter). Between two bars whose
    code differs from the bar before, every bar with a code has the first one's code, so
    the state can only flip at such bars, and those are few.
    """
    entering = np.asarray(enter, dtype=bool)
    code = np.zeros(len(entering) + 1, dtype=np.int8)  # code[0]: flat before bar 0, like a bar with neither
    body = code[1:]
    np.add(entering, entering, out=body, dtype=np.int8)
    np.bitwise_or(body, np.asarray(leave, dtype=bool), out=body)
    starts = (body != code[:-1]).nonzero()[0]
    codes = body[starts]
    decided = codes.nonzero()[0]
    state = np.zeros(len(decided) + 1, dtype=np.int8)  # flat before the first decided bar
    np.right_shift(codes[decided], 1, out=state[1:])  # 1 after an enter (2, 3), 0 after a leave (1)
    return starts[decided[(state[1:] != state[:-1]).nonzero()[0]]]


def holds(flips: np.ndarray, count: int) -> np.ndarray:
    """Return the state (1.0 long, 0.0 flat) of `count` bars that start flat and flip at `flips`."""
    edges = np.empty(len(flips) + 2, dtype=np.int64)
    edges[0], edges[1:-1], edges[-1] = 0, flips, count
    held = np.zeros(len(flips) + 1)  # flips alternate flat to long and back: 0.0, 1.0, 0.0, ...
    held[1::2] = 1.0
    return np.repeat(held, edges[1:] - edges[:-1])


def next_hold(previous: float, enter: bool, leave: bool) -> float:
    """Scalar twin of `hold_between`: the state after one bar."""
    if enter:
        return 1.0
    if leave:
        return 0.0
    return previous


# ---------------------------------------------------------------- incremental twins


class RunningSMA:
    """SMA bar by bar with the arithmetic of `sma`."""

    __slots__ = ("length", "total", "totals", "value")

    def __init__(self, length: int) -> None:
        self.length = length
        self.total = 0.0
        self.totals: deque[float] = deque(maxlen=length + 1)
        self.value = math.nan

    def update(self, x: float) -> float:
        self.total += x
        self.totals.append(self.total)
        count = len(self.totals)
        if count == self.length:
            self.value = self.total / self.length
        elif count > self.length:
            self.value = (self.total - self.totals[0]) / self.length
        return self.value


class RunningBollinger:
    """Bollinger bands bar by bar with the arithmetic of `bollinger`."""

    __slots__ = ("k", "length", "mean", "window")

    def __init__(self, length: int, k: float) -> None:
        self.length = length
        self.k = k
        self.mean = RunningSMA(length)
        self.window: deque[float] = deque(maxlen=length)

    def update(self, x: float) -> tuple[float, float, float]:
        middle = self.mean.update(x)
        self.window.append(x)
        if len(self.window) < self.length:
            return math.nan, math.nan, math.nan
        squares = 0.0
        for value in self.window:
            deviation = value - middle
            squares += deviation * deviation
        spread = self.k * math.sqrt(squares / self.length)
        return middle, middle + spread, middle - spread


class RunningRSI:
    """Wilder's RSI bar by bar with the arithmetic of `rsi`."""

    __slots__ = ("avg_gain", "avg_loss", "count", "length", "previous")

    def __init__(self, length: int) -> None:
        self.length = length
        self.previous = math.nan
        self.count = 0  # close-to-close changes seen
        self.avg_gain = 0.0
        self.avg_loss = 0.0

    def update(self, x: float) -> float:
        previous, self.previous = self.previous, x
        if math.isnan(previous):
            return math.nan
        change = x - previous
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        self.count += 1
        if self.count < self.length:
            self.avg_gain += gain
            self.avg_loss += loss
            return math.nan
        if self.count == self.length:
            self.avg_gain = (self.avg_gain + gain) / self.length
            self.avg_loss = (self.avg_loss + loss) / self.length
        else:
            keep = self.length - 1
            self.avg_gain = (self.avg_gain * keep + gain) / self.length
            self.avg_loss = (self.avg_loss * keep + loss) / self.length
        return _rsi_value(self.avg_gain, self.avg_loss)
