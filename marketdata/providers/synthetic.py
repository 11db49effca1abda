"""Deterministic synthetic market data: bars, trades and quotes for demos and tests.

The same symbol, calendar and day always give the same numbers, whichever range
is asked for, so a replay, a backfill and a chart agree without storing anything.

How prices are made
- Seed. `seed`, or the first 8 bytes of SHA-256 of the symbol (stable across runs,
  unlike `hash()`).
- Daily anchors. Calendar day k (counted from 2000-01-01) has a shock z_k ~ N(0, 1)
  drawn from a stream seeded by (seed, chunk k // 4096): fixed chunks, so z_k never
  depends on the requested range. The log price anchor of day d is the closed form
      A(d) = log(start_price) + 1.5% * sum_{j=1..500} (1 - (j-1)/500) * z_{d-j}
  a tapered moving sum of the last 500 daily shocks. Day to day it moves like a
  random walk with 1.5% daily volatility, yet it slowly forgets old shocks, so the
  price wanders around `start_price` (one standard deviation is about 19%) for any
  date instead of drifting off over decades.
- Sessions. A session on date d opens at A(d) and follows a Brownian bridge to
  A(d) + f * (A(d+1) - A(d)): f = 1 on 24/7 calendars, so the path is continuous, and
  0.8 elsewhere, the rest being the overnight gap. Minute volatility and volume follow
  an intraday U shape (a daily cycle peaking near 15:00 UTC on 24/7 calendars). The
  bridge noise, wicks, volumes and trade counts of a day come from a stream seeded by
  (seed, stream, date), independent of every other day.
- Coarser bars (`interval_seconds` a multiple of 60) aggregate the one-minute bars
  per session, aligned to the session open, exactly as resampling stored bars does.
- Trades and quotes of a minute are drawn inside that minute's bar: trade count and
  total size equal the bar's, the first and last trades print the open and close,
  and (with four or more trades) one prints the high and one the low; quotes keep
  bid < ask within the bar's low..high.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketdata.core.calendar import TradingCalendar, get_calendar

BAR_FIELDS = ("open", "high", "low", "close", "volume", "trade_count", "vwap")
DAILY_VOLATILITY = 0.015
TREND_MEMORY_DAYS = 500
INTRADAY_SHARE_OF_DAILY_MOVE = 0.8

_MINUTE_NS = 60 * 10**9
_EPOCH_ORDINAL = dt.date(2000, 1, 1).toordinal()
_SHOCK_CHUNK_DAYS = 4096
_STREAM_SHOCKS, _STREAM_PROFILE, _STREAM_BARS, _STREAM_TRADES, _STREAM_QUOTES = range(5)


@dataclass(frozen=True)
class _Profile:
    """What stays fixed for one symbol: seed, price grid and activity level."""

    seed: int
    log_start: float
    decimals: int
    base_volume: float
    trade_size: float

    @property
    def tick(self) -> float:
        return 10.0**-self.decimals


def symbol_seed(symbol: str) -> int:
    """Return the default seed of `symbol`: stable across processes and machines."""
    return int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:8], "big")


def synthetic_bars(
    symbol: str,
    calendar: str,
    start: dt.date,
    end: dt.date,
    *,
    seed: int | None = None,
    start_price: float = 100.0,
    interval_seconds: int = 60,
) -> pd.DataFrame:
    """Return normalized bars for every regular-session interval of dates start..end."""
    if interval_seconds < 60 or interval_seconds % 60:
        raise ValueError("interval_seconds must be a positive multiple of 60")
    trading_calendar = get_calendar(calendar)
    schedule = trading_calendar.schedule(start, end)
    profile = _profile(symbol, seed, start_price)
    days = [_session_minutes(profile, trading_calendar, session) for session in _sessions(profile, schedule)]
    if not days:
        return _frame(np.empty(0, np.int64), {name: np.empty(0) for name in BAR_FIELDS})
    minutes = {name: np.concatenate([day[name] for day in days]) for name in ("ts", *BAR_FIELDS)}
    if interval_seconds > 60:
        opens = np.repeat(_epoch_ns(schedule["open"]), [len(day["ts"]) for day in days])
        minutes = _aggregate(minutes, opens, interval_seconds * 10**9)
    return _frame(minutes["ts"], minutes)


def synthetic_trades(
    symbol: str,
    calendar: str,
    start: dt.datetime | pd.Timestamp,
    end: dt.datetime | pd.Timestamp,
    *,
    seed: int | None = None,
    start_price: float = 100.0,
) -> pd.DataFrame:
    """Return trades (ts, price, size, side) in the UTC range [start, end), inside the 1m bars."""
    days = _minute_days(symbol, calendar, start, end, seed, start_price)
    parts = [_day_trades(profile, session_date, bars) for profile, session_date, bars in days]
    columns = {"price": np.float64, "size": np.float64, "side": str}
    return _ticks_frame(parts, columns, start, end)


def synthetic_quotes(
    symbol: str,
    calendar: str,
    start: dt.datetime | pd.Timestamp,
    end: dt.datetime | pd.Timestamp,
    *,
    seed: int | None = None,
    start_price: float = 100.0,
) -> pd.DataFrame:
    """Return quotes (ts, bid, bid_size, ask, ask_size) in the UTC range [start, end)."""
    days = _minute_days(symbol, calendar, start, end, seed, start_price)
    parts = [_day_quotes(profile, session_date, bars) for profile, session_date, bars in days]
    columns = dict.fromkeys(("bid", "bid_size", "ask", "ask_size"), np.float64)
    return _ticks_frame(parts, columns, start, end)


# --- prices -------------------------------------------------------------------------


def _profile(symbol: str, seed: int | None, start_price: float) -> _Profile:
    if not start_price > 0:
        raise ValueError("start_price must be positive")
    base_seed = symbol_seed(symbol) if seed is None else seed % 2**64
    rng = np.random.default_rng([base_seed, _STREAM_PROFILE])
    return _Profile(
        seed=base_seed,
        log_start=float(np.log(start_price)),
        # Cents for ordinary prices, more digits below 1 so small prices still move.
        decimals=max(2, 3 - int(np.floor(np.log10(start_price)))),
        base_volume=float(10 ** rng.uniform(3.0, 4.3)),
        trade_size=float(rng.uniform(60.0, 250.0)),
    )


def _log_anchors(profile: _Profile, first_day: int, last_day: int) -> np.ndarray:
    """Return A(d) for day numbers first_day..last_day (days since 2000-01-01)."""
    memory = TREND_MEMORY_DAYS
    lo, hi = first_day - memory, last_day - 1  # shocks z_{d-500} .. z_{d-1}
    chunks = range(lo // _SHOCK_CHUNK_DAYS, hi // _SHOCK_CHUNK_DAYS + 1)
    shocks = np.concatenate(
        [
            np.random.default_rng([profile.seed, _STREAM_SHOCKS, chunk % 2**32]).standard_normal(_SHOCK_CHUNK_DAYS)
            for chunk in chunks
        ]
    )
    offset = lo - chunks[0] * _SHOCK_CHUNK_DAYS
    shocks = shocks[offset : offset + hi - lo + 1]
    weights = 1.0 - np.arange(memory) / memory
    return profile.log_start + DAILY_VOLATILITY * np.convolve(shocks, weights, mode="valid")


def _sessions(profile: _Profile, schedule: pd.DataFrame) -> list[tuple[dt.date, int, int, float, float]]:
    """Return (date, open ns, close ns, opening log price, closing log target) per session."""
    if schedule.empty:
        return []
    dates = [timestamp.date() for timestamp in schedule.index]
    day_numbers = np.array([date.toordinal() - _EPOCH_ORDINAL for date in dates])
    anchors = _log_anchors(profile, int(day_numbers.min()), int(day_numbers.max()) + 1)
    today = anchors[day_numbers - day_numbers.min()]
    tomorrow = anchors[day_numbers - day_numbers.min() + 1]
    opens = _epoch_ns(schedule["open"])
    closes = _epoch_ns(schedule["close"])
    return [(date, int(opens[i]), int(closes[i]), float(today[i]), float(tomorrow[i])) for i, date in enumerate(dates)]


def _session_minutes(
    profile: _Profile, calendar: TradingCalendar, session: tuple[dt.date, int, int, float, float]
) -> dict[str, np.ndarray]:
    """Return the one-minute bars of one session, from that day's own random stream."""
    date, open_ns, close_ns, log_open, log_next = session
    count = -(-(close_ns - open_ns) // _MINUTE_NS)
    ts = open_ns + np.arange(count, dtype=np.int64) * _MINUTE_NS
    rng = np.random.default_rng([profile.seed, _STREAM_BARS, date.toordinal()])
    day_activity = float(np.exp(0.3 * rng.standard_normal()))
    noise = rng.standard_normal((5, count))

    if calendar.is_24_7:
        hours = (ts // 10**9 % 86_400) / 3600.0
        shape = 1.0 + 0.35 * np.cos(2 * np.pi * (hours - 15.0) / 24.0)
        share = 1.0
    else:
        where = (np.arange(count) + 0.5) / count
        shape = 0.6 + 1.6 * (2 * where - 1) ** 2 + 1.2 * np.exp(-np.arange(count) / 15.0)
        share = INTRADAY_SHARE_OF_DAILY_MOVE
    activity = shape / shape.mean()

    # Brownian bridge from the day's anchor to its closing target, volatility following activity.
    sigma = DAILY_VOLATILITY / np.sqrt(max(count, 390)) * np.sqrt(activity)
    walk = np.cumsum(sigma * noise[0])
    progress = np.cumsum(sigma**2) / np.sum(sigma**2)
    target = log_open + share * (log_next - log_open)
    log_close = log_open + walk - progress * (walk[-1] - (target - log_open))

    decimals, tick = profile.decimals, profile.tick
    close = np.round(np.exp(log_close), decimals)
    open_ = np.concatenate(([np.round(np.exp(log_open), decimals)], close[:-1]))
    body_high, body_low = np.maximum(open_, close), np.minimum(open_, close)
    high = np.maximum(np.round(body_high * np.exp(0.6 * sigma * np.abs(noise[1])), decimals), body_high)
    low = np.minimum(np.round(body_low * np.exp(-0.6 * sigma * np.abs(noise[2])), decimals), body_low)
    low = np.maximum(low, tick)
    # Keep at least one tick of range so quotes fit a spread inside every bar.
    high = np.where(high - low < tick * 0.5, np.round(low + tick, decimals), high)

    moves = 1.0 + 0.5 * np.abs(noise[0])
    volume = np.maximum(
        np.round(profile.base_volume * day_activity * activity * moves * np.exp(0.4 * noise[3] - 0.08)), 1.0
    )
    trade_count = np.clip(np.round(volume / profile.trade_size * np.exp(0.2 * noise[4])), 1.0, volume)
    typical = (open_ + high + low + close) / 4.0
    vwap = np.clip(np.round(typical, decimals + 2), low, high)
    return {
        "ts": ts,
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "trade_count": trade_count,
        "vwap": vwap,
    }


def _aggregate(minutes: dict[str, np.ndarray], session_opens: np.ndarray, interval_ns: int) -> dict[str, np.ndarray]:
    """Aggregate one-minute bars into bars aligned to each session's open."""
    ts = minutes["ts"]
    bucket_start = session_opens + (ts - session_opens) // interval_ns * interval_ns
    firsts = np.flatnonzero(np.r_[True, bucket_start[1:] != bucket_start[:-1]])
    lasts = np.r_[firsts[1:], len(ts)] - 1
    volume = np.add.reduceat(minutes["volume"], firsts)
    low = np.minimum.reduceat(minutes["low"], firsts)
    high = np.maximum.reduceat(minutes["high"], firsts)
    vwap = np.add.reduceat(minutes["vwap"] * minutes["volume"], firsts) / volume
    return {
        "ts": bucket_start[firsts],
        "open": minutes["open"][firsts],
        "high": high,
        "low": low,
        "close": minutes["close"][lasts],
        "volume": volume,
        "trade_count": np.add.reduceat(minutes["trade_count"], firsts),
        "vwap": np.clip(vwap, low, high),
    }


def _epoch_ns(times: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def _frame(ts_ns: np.ndarray, values: dict[str, np.ndarray]) -> pd.DataFrame:
    ts = pd.DatetimeIndex(np.asarray(ts_ns, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")
    columns = {"ts": ts, **{name: np.asarray(values[name], dtype=np.float64) for name in BAR_FIELDS}}
    return pd.DataFrame(columns)


# --- trades and quotes --------------------------------------------------------------


def _utc(value: dt.datetime | pd.Timestamp, name: str) -> pd.Timestamp:
    timestamp = pd.Timestamp(value)
    if timestamp.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return timestamp.tz_convert("UTC")


def _minute_days(
    symbol: str,
    calendar: str,
    start: dt.datetime | pd.Timestamp,
    end: dt.datetime | pd.Timestamp,
    seed: int | None,
    start_price: float,
) -> list[tuple[_Profile, dt.date, dict[str, np.ndarray]]]:
    """Return the one-minute bars of every session overlapping [start, end)."""
    trading_calendar = get_calendar(calendar)
    schedule = trading_calendar.schedule_between(_utc(start, "start"), _utc(end, "end"))
    profile = _profile(symbol, seed, start_price)
    return [
        (profile, session[0], _session_minutes(profile, trading_calendar, session))
        for session in _sessions(profile, schedule)
    ]


def _ticks_in_bars(
    rng: np.random.Generator, bars: dict[str, np.ndarray], counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (bar index, ns time) of `counts` events per bar, sorted within each bar."""
    bar = np.repeat(np.arange(len(counts)), counts)
    fraction = np.sort(bar + rng.random(len(bar))) - bar  # sorted within each bar
    ts = bars["ts"][bar] + (fraction * _MINUTE_NS).astype(np.int64)
    return bar, ts


def _day_trades(profile: _Profile, date: dt.date, bars: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([profile.seed, _STREAM_TRADES, date.toordinal()])
    counts = bars["trade_count"].astype(np.int64)
    bar, ts = _ticks_in_bars(rng, bars, counts)
    low, high = bars["low"][bar], bars["high"][bar]
    price = np.clip(np.round(low + (high - low) * rng.beta(2.0, 2.0, len(bar)), profile.decimals), low, high)
    firsts = np.cumsum(counts) - counts
    lasts = firsts + counts - 1
    price[firsts] = bars["open"]
    price[lasts] = bars["close"]
    # Bars with four or more trades print their high and low on two distinct middle trades.
    middle = np.maximum(counts - 2, 1)
    high_at = 1 + (rng.random(len(counts)) * middle).astype(np.int64)
    low_at = 1 + (high_at + (rng.random(len(counts)) * (middle - 1)).astype(np.int64)) % middle
    wide = counts >= 4
    price[(firsts + high_at)[wide]] = bars["high"][wide]
    price[(firsts + low_at)[wide]] = bars["low"][wide]

    # Split each bar's volume into sizes of at least 1 that add up exactly.
    weights = rng.exponential(size=len(bar))
    share = weights / np.add.reduceat(weights, firsts)[bar]
    size = 1.0 + np.floor(share * (bars["volume"] - counts)[bar])
    size[lasts] += bars["volume"] - np.add.reduceat(size, firsts)

    previous = np.r_[price[0], price[:-1]] if len(price) else price
    buy_probability = np.where(price > previous, 0.8, np.where(price < previous, 0.2, 0.5))
    side = np.where(rng.random(len(bar)) < buy_probability, "buy", "sell")
    return {"ts": ts, "price": price, "size": size, "side": side}


def _day_quotes(profile: _Profile, date: dt.date, bars: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([profile.seed, _STREAM_QUOTES, date.toordinal()])
    counts = bars["trade_count"].astype(np.int64) + 1
    bar, ts = _ticks_in_bars(rng, bars, counts)
    decimals, tick = profile.decimals, profile.tick
    low, high = bars["low"][bar], bars["high"][bar]
    mid = low + (high - low) * rng.random(len(bar))
    spread = np.round(np.minimum(tick * rng.geometric(0.6, len(bar)), high - low), decimals)
    bid = np.clip(np.round(mid - spread / 2, decimals), low, np.round(high - spread, decimals))
    ask = np.minimum(np.round(bid + spread, decimals), high)
    sizes = 100.0 * (1 + rng.poisson(3.0, (2, len(bar))))
    return {"ts": ts, "bid": bid, "bid_size": sizes[0], "ask": ask, "ask_size": sizes[1]}


def _ticks_frame(
    parts: list[dict[str, np.ndarray]],
    columns: dict[str, type],
    start: dt.datetime | pd.Timestamp,
    end: dt.datetime | pd.Timestamp,
) -> pd.DataFrame:
    """Concatenate per-day events, keep those in [start, end) and type the columns."""
    start_ns, end_ns = _utc(start, "start").as_unit("ns").value, _utc(end, "end").as_unit("ns").value
    ts = np.concatenate([part["ts"] for part in parts]) if parts else np.empty(0, np.int64)
    keep = (ts >= start_ns) & (ts < end_ns)
    data: dict[str, object] = {
        "ts": pd.DatetimeIndex(ts[keep].view("datetime64[ns]")).tz_localize("UTC"),
    }
    for name, kind in columns.items():
        values = np.concatenate([part[name] for part in parts]) if parts else np.empty(0)
        data[name] = values[keep].astype(kind)
    return pd.DataFrame(data)
