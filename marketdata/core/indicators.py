"""Technical indicators over a bar frame: SMA, EMA, RSI, MACD, Bollinger Bands, ATR, VWAP.

Conventions (those of TradingView, which most users compare against):

- Every series has the length of its input; values are NaN until enough bars exist.
- EMA uses alpha = 2 / (n + 1) and is seeded with the SMA of its first n values, so
  its first value is at index n - 1 (before: NaN).
- Wilder smoothing (RSI, ATR) is an EMA with alpha = 1 / n, seeded the same way.
- RSI: gains and losses of close-to-close changes; first value at index n. RSI is 100
  when the average loss is 0, 0 when the average gain is 0, and 50 when both are 0
  (a flat market).
- MACD: line = EMA(fast) - EMA(slow); signal = EMA(signal) of the line, seeded from
  the line's first `signal` values; histogram = line - signal.
- Bollinger Bands: middle = SMA(n), bands = middle +/- k * population standard
  deviation (ddof=0) of the same n closes.
- ATR: true range of the first bar is high - low (no previous close); ATR(n) is its
  Wilder average, first value at index n - 1.
- VWAP: resets at every session open. The bar's price is its own `vwap` where known,
  else the typical price (high + low + close) / 3; VWAP = cumsum(price * volume) /
  cumsum(volume) within the session (NaN while the session volume is 0).

Inputs are finite floats (a normalized bar frame); NaN inputs propagate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# name -> (parameter names, default values or None when the parameter is required)
_SPECS: dict[str, tuple[tuple[str, ...], tuple[float, ...] | None]] = {
    "sma": (("length",), None),
    "ema": (("length",), None),
    "rsi": (("length",), (14,)),
    "macd": (("fast", "slow", "signal"), (12, 26, 9)),
    "bbands": (("length", "k"), (20, 2)),
    "atr": (("length",), (14,)),
    "vwap": ((), ()),
}
_ALIASES = {"bb": "bbands", "bollinger": "bbands"}
# Longer windows than any bar history we serve; also keeps pandas' window sizes in range.
MAX_LENGTH = 1_000_000
_CHUNK_ELEMENTS = 1 << 20


# ------------------------------------------------------------------- indicators


def _floats(values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def sma(values: Sequence[float] | np.ndarray | pd.Series, length: int) -> np.ndarray:
    """Simple moving average of the last `length` values."""
    return pd.Series(_floats(values)).rolling(length, min_periods=length).mean().to_numpy()


def _seeded_ema(values: np.ndarray, length: int, alpha: float) -> np.ndarray:
    """EMA with smoothing `alpha`, seeded with the mean of the first `length` values after leading NaNs."""
    out = np.full(len(values), np.nan)
    finite = np.flatnonzero(~np.isnan(values))
    if len(finite) == 0:
        return out
    start = int(finite[0])
    if len(values) - start < length:
        return out
    seed = values[start : start + length].mean()
    tail = np.concatenate([[seed], values[start + length :]])
    out[start + length - 1 :] = pd.Series(tail).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def ema(values: Sequence[float] | np.ndarray | pd.Series, length: int) -> np.ndarray:
    """Exponential moving average, alpha = 2 / (length + 1), SMA-seeded."""
    return _seeded_ema(_floats(values), length, 2.0 / (length + 1))


def wilder(values: Sequence[float] | np.ndarray | pd.Series, length: int) -> np.ndarray:
    """Wilder's smoothing (RMA): alpha = 1 / length, SMA-seeded."""
    return _seeded_ema(_floats(values), length, 1.0 / length)


def rsi(close: Sequence[float] | np.ndarray | pd.Series, length: int = 14) -> np.ndarray:
    """Relative Strength Index with Wilder smoothing; first value at index `length`."""
    prices = _floats(close)
    out = np.full(len(prices), np.nan)
    if len(prices) <= length:
        return out
    change = np.diff(prices)
    gain = wilder(np.maximum(change, 0.0), length)
    loss = wilder(np.maximum(-change, 0.0), length)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    value = np.where(loss == 0, np.where(gain == 0, 50.0, 100.0), value)
    out[1:] = np.where(np.isnan(gain) | np.isnan(loss), np.nan, value)
    return out


def macd(
    close: Sequence[float] | np.ndarray | pd.Series, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (MACD line, signal line, histogram)."""
    prices = _floats(close)
    line = ema(prices, fast) - ema(prices, slow)
    signal_line = _seeded_ema(line, signal, 2.0 / (signal + 1))
    return line, signal_line, line - signal_line


def bollinger(
    close: Sequence[float] | np.ndarray | pd.Series, length: int = 20, k: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (middle, upper, lower) Bollinger Bands; the deviation is the population std (ddof=0)."""
    prices = _floats(close)
    middle = sma(prices, length)
    deviation = _rolling_std(prices, length)
    return middle, middle + k * deviation, middle - k * deviation


def _rolling_std(values: np.ndarray, length: int) -> np.ndarray:
    """Population std of each window, two-pass per window.

    pandas' online rolling variance leaves residues around 1e-6 on flat windows (a
    price unchanged for `length` bars), which would draw bands where there are none.
    Windows are processed in chunks to bound memory.
    """
    out = np.full(len(values), np.nan)
    if len(values) < length:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(values, length)
    rows = max(1, _CHUNK_ELEMENTS // length)
    for first in range(0, len(windows), rows):
        out[length - 1 + first : length - 1 + first + rows] = windows[first : first + rows].std(axis=1)
    return out


def true_range(
    high: Sequence[float] | np.ndarray | pd.Series,
    low: Sequence[float] | np.ndarray | pd.Series,
    close: Sequence[float] | np.ndarray | pd.Series,
) -> np.ndarray:
    """True range per bar; the first bar has no previous close, so its range is high - low."""
    h, lo, c = _floats(high), _floats(low), _floats(close)
    ranges = h - lo
    if len(h) > 1:
        previous = c[:-1]
        ranges[1:] = np.maximum(ranges[1:], np.maximum(np.abs(h[1:] - previous), np.abs(lo[1:] - previous)))
    return ranges


def atr(
    high: Sequence[float] | np.ndarray | pd.Series,
    low: Sequence[float] | np.ndarray | pd.Series,
    close: Sequence[float] | np.ndarray | pd.Series,
    length: int = 14,
) -> np.ndarray:
    """Average True Range with Wilder smoothing; first value at index `length - 1`."""
    return wilder(true_range(high, low, close), length)


def vwap(bars: pd.DataFrame, session_ids: Sequence[object] | np.ndarray | pd.Series) -> np.ndarray:
    """Session VWAP: cumulative within each run of equal `session_ids` (one id per bar)."""
    ids = np.asarray(session_ids)
    if len(ids) != len(bars):
        raise ValueError(f"session_ids has {len(ids)} entries for {len(bars)} bars")
    if len(bars) == 0:
        return np.empty(0)
    high, low, close = (_floats(bars[name]) for name in ("high", "low", "close"))
    volume = _floats(bars["volume"])
    own = _floats(bars["vwap"]) if "vwap" in bars.columns else np.full(len(bars), np.nan)
    price = np.where(np.isnan(own), (high + low + close) / 3.0, own)
    starts = np.ones(len(ids), dtype=bool)
    starts[1:] = ids[1:] != ids[:-1]
    group = np.cumsum(starts)
    frame = pd.DataFrame({"pv": price * volume, "v": volume})
    cumulative = frame.groupby(group, sort=False).cumsum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cumulative["v"] > 0, cumulative["pv"] / cumulative["v"], np.nan)


def session_ids_from_schedule(bars: pd.DataFrame, sessions: pd.DataFrame) -> np.ndarray:
    """Return per bar the number of session opens at or before it: an id that changes at every open.

    `sessions` is a `TradingCalendar.schedule` frame covering the bars.
    """
    opens = sessions["open"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    ts = pd.DatetimeIndex(bars["ts"]).tz_convert("UTC").as_unit("ns").asi8
    return np.searchsorted(opens, ts, side="right")


# ------------------------------------------------------------------------ specs


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """One requested indicator: `name` (sma, ema, rsi, macd, bbands, atr, vwap) and its parameters."""

    name: str
    params: tuple[float, ...] = ()

    @property
    def suffix(self) -> str:
        return "".join(f"_{_format_param(value)}" for value in self.params)

    @property
    def columns(self) -> list[str]:
        """Names of the output columns, e.g. macd_12_26_9, macd_signal_12_26_9, macd_hist_12_26_9."""
        if self.name == "macd":
            return [f"macd{self.suffix}", f"macd_signal{self.suffix}", f"macd_hist{self.suffix}"]
        if self.name == "bbands":
            return [f"bb_middle{self.suffix}", f"bb_upper{self.suffix}", f"bb_lower{self.suffix}"]
        return [f"{self.name}{self.suffix}"]


def _format_param(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _parse_param(indicator: str, param: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{indicator}: {param} must be a number, got {text!r}") from None
    if param == "k":
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{indicator}: k must be a positive number, got {text!r}")
        return value
    if not value.is_integer() or not 1 <= value <= MAX_LENGTH:
        raise ValueError(f"{indicator}: {param} must be a whole number from 1 to {MAX_LENGTH}, got {text!r}")
    return int(value)


def parse_indicator_spec(text: str) -> list[IndicatorSpec]:
    """Parse "sma:20,rsi:14,macd:12:26:9,bbands:20:2" (name:param:...; defaults where a name allows)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("no indicators given: write e.g. 'sma:20,rsi:14,macd:12:26:9,bbands:20:2'")
    specs: list[IndicatorSpec] = []
    for item in text.split(","):
        parts = [part.strip() for part in item.strip().split(":")]
        if not parts[0]:
            raise ValueError(f"empty indicator in {text!r}")
        name = _ALIASES.get(parts[0].lower(), parts[0].lower())
        if name not in _SPECS:
            raise ValueError(f"unknown indicator {parts[0]!r}: known are {', '.join(sorted(_SPECS))}")
        names, defaults = _SPECS[name]
        given = parts[1:]
        if len(given) > len(names):
            raise ValueError(f"{name} takes at most {len(names)} parameter(s) ({', '.join(names) or 'none'})")
        if len(given) < len(names) and defaults is None:
            raise ValueError(f"{name} needs {', '.join(names)}, e.g. '{name}:20'")
        values = [_parse_param(name, param, raw) for param, raw in zip(names, given, strict=False)]
        values += list((defaults or ())[len(values) :])
        if name == "macd" and values[0] >= values[1]:
            raise ValueError(f"macd: fast ({values[0]}) must be shorter than slow ({values[1]})")
        spec = IndicatorSpec(name, tuple(values))
        if spec not in specs:
            specs.append(spec)
    return specs


def compute_indicators(
    bars: pd.DataFrame,
    specs: str | Sequence[IndicatorSpec],
    session_ids: Sequence[object] | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Return one column per indicator output, aligned with `bars` (same index).

    `specs` is a spec string or parsed specs. VWAP needs `session_ids` (one per bar,
    changing at each session open; see `session_ids_from_schedule`).
    """
    parsed = parse_indicator_spec(specs) if isinstance(specs, str) else list(specs)
    close = _floats(bars["close"])
    columns: dict[str, np.ndarray] = {}
    for spec in parsed:
        p = [int(value) if spec.name != "bbands" or i == 0 else float(value) for i, value in enumerate(spec.params)]
        if spec.name == "sma":
            outputs: tuple[np.ndarray, ...] = (sma(close, p[0]),)
        elif spec.name == "ema":
            outputs = (ema(close, p[0]),)
        elif spec.name == "rsi":
            outputs = (rsi(close, p[0]),)
        elif spec.name == "macd":
            outputs = macd(close, p[0], p[1], p[2])
        elif spec.name == "bbands":
            outputs = bollinger(close, int(p[0]), p[1])
        elif spec.name == "atr":
            outputs = (atr(bars["high"], bars["low"], close, p[0]),)
        elif spec.name == "vwap":
            if session_ids is None:
                raise ValueError("vwap needs session_ids: it resets at each session open")
            outputs = (vwap(bars, session_ids),)
        else:
            raise ValueError(f"unknown indicator {spec.name!r}")
        columns.update(zip(spec.columns, outputs, strict=True))
    return pd.DataFrame(columns, index=bars.index)
