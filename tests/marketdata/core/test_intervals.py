import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketdata.core.intervals import (
    MAX_INTERVAL_SECONDS,
    UNIT_SECONDS,
    Interval,
    IntervalError,
    can_derive,
    parse_interval,
)


@pytest.mark.parametrize(
    ("text", "count", "unit", "seconds"),
    [
        ("1m", 1, "m", 60),
        ("7m", 7, "m", 420),
        ("4h", 4, "h", 14_400),
        ("1d", 1, "d", 86_400),
        ("30s", 30, "s", 30),
        ("15m", 15, "m", 900),
        (" 5m\n", 5, "m", 300),
    ],
)
def test_parse_interval_accepts_count_and_unit(text, count, unit, seconds):
    interval = parse_interval(text)

    assert interval == Interval(count, unit)
    assert interval.seconds == seconds
    assert interval.timedelta == pd.Timedelta(seconds=seconds)
    assert str(interval) == text.strip()


@pytest.mark.parametrize(
    "text",
    ["0m", "5x", "", "   ", "m5", "-1m", "+1m", "5", "1.5m", "5M", "5 m", "05m", "1mm", "m", "5min", "1w"],
)
def test_parse_interval_rejects_malformed_text_with_clear_message(text):
    with pytest.raises(IntervalError, match=r"invalid interval .*expected <N>s, <N>m, <N>h or <N>d"):
        parse_interval(text)


def test_interval_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_interval("0m")


def test_parse_interval_rejects_non_string():
    with pytest.raises(IntervalError, match="must be a string"):
        parse_interval(5)  # type: ignore[arg-type]


def test_parse_interval_rejects_interval_longer_than_a_year():
    assert parse_interval("366d").count == 366
    with pytest.raises(IntervalError, match="longer than the maximum"):
        parse_interval("367d")
    with pytest.raises(IntervalError, match="longer than the maximum"):
        parse_interval("99999999999999999999999s")


@pytest.mark.parametrize(("count", "unit"), [(0, "m"), (-5, "m"), (5, "x"), (5, "M"), (True, "m"), (1.5, "m")])
def test_interval_constructor_validates_fields(count, unit):
    with pytest.raises(IntervalError):
        Interval(count, unit)


def test_only_day_intervals_are_daily():
    assert parse_interval("1d").is_daily
    assert parse_interval("5d").is_daily
    assert not parse_interval("24h").is_daily
    assert not parse_interval("1440m").is_daily


@pytest.mark.parametrize(
    ("target", "base", "expected"),
    [
        ("5m", "1m", True),
        ("15m", "5m", True),
        ("7m", "1m", True),
        ("1h", "15m", True),
        ("1m", "1m", True),
        ("1m", "30s", True),
        ("90s", "1m", False),  # 90 is not a multiple of 60
        ("1h", "7m", False),
        ("1m", "5m", False),  # finer than the base
        ("1d", "1m", True),
        ("1d", "7m", True),
        ("1d", "4h", True),
        ("5d", "1d", True),
        ("4d", "2d", True),
        ("3d", "2d", False),
        ("1h", "1d", False),
    ],
)
def test_can_derive(target, base, expected):
    assert can_derive(parse_interval(target), parse_interval(base)) is expected


@given(st.sampled_from(sorted(UNIT_SECONDS)), st.integers(min_value=1, max_value=100_000))
def test_interval_text_round_trips(unit, count):
    if count * UNIT_SECONDS[unit] > MAX_INTERVAL_SECONDS:
        with pytest.raises(IntervalError):
            parse_interval(f"{count}{unit}")
        return
    interval = parse_interval(f"{count}{unit}")

    assert parse_interval(str(interval)) == interval
    assert interval.seconds == count * UNIT_SECONDS[unit]


@given(
    st.sampled_from(["s", "m", "h"]),
    st.integers(min_value=1, max_value=120),
    st.sampled_from(["s", "m", "h"]),
    st.integers(min_value=1, max_value=120),
)
def test_intraday_derivation_means_target_is_whole_multiple_of_base(target_unit, target_count, base_unit, base_count):
    target, base = Interval(target_count, target_unit), Interval(base_count, base_unit)

    derivable = can_derive(target, base)

    assert derivable == (target.seconds >= base.seconds and target.seconds % base.seconds == 0)
    with pytest.raises(IntervalError, match="longer than the maximum"):  # more digits than int() converts
        parse_interval("9" * 5000 + "m")
