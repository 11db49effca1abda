import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.core.bars import BAR_COLUMNS, RowError, dedup_bars, empty_bars, normalize_bars, validate_bars
from marketdata.core.times import SUPPORTED_TIMES


def bars(count: int = 5, seed: int = 1) -> pd.DataFrame:
    """`count` valid 1-minute bars from 2024-11-27 14:30Z."""
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.5, count))
    open_ = np.concatenate(([100.0], close[:-1]))
    return pd.DataFrame(
        {
            "ts": pd.date_range("2024-11-27 14:30", periods=count, freq="1min", tz="UTC").as_unit("ns"),
            "open": open_,
            "high": np.maximum(open_, close) + 0.25,
            "low": np.minimum(open_, close) - 0.25,
            "close": close,
            "volume": rng.integers(0, 1_000, count).astype(np.float64),
            "trade_count": rng.integers(0, 40, count).astype(np.float64),
            "vwap": (open_ + close) / 2,
        }
    )


def with_values(frame: pd.DataFrame, position: int, **values) -> pd.DataFrame:
    frame = frame.copy()
    for name, value in values.items():
        frame.loc[position, name] = value
    return frame


def test_valid_bars_have_no_errors():
    assert validate_bars(bars(50)) == []
    assert validate_bars(empty_bars()) == []


def test_unknown_trade_count_and_vwap_are_valid():
    frame = bars().assign(trade_count=np.nan, vwap=np.nan)

    assert validate_bars(frame) == []
    assert validate_bars(frame.drop(columns=["trade_count", "vwap"])) == []


def test_high_below_low_is_reported_with_both_prices():
    frame = with_values(bars(), 2, open=100.0, close=100.0, high=99.5, low=100.0)

    errors = validate_bars(frame)

    assert RowError(3, "high", "high 99.5 is below low 100.0") in errors
    assert RowError(3, "high", "high 99.5 is below open 100.0") in errors
    assert {error.row for error in errors} == {3}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"high": 100.0, "open": 101.0, "low": 99.0, "close": 100.0}, "high", "high 100.0 is below open 101.0"),
        ({"high": 100.0, "open": 99.0, "low": 98.0, "close": 100.5}, "high", "high 100.0 is below close 100.5"),
        ({"high": 102.0, "open": 99.0, "low": 99.5, "close": 101.0}, "low", "low 99.5 is above open 99.0"),
        ({"high": 102.0, "open": 101.0, "low": 100.0, "close": 99.0}, "low", "low 100.0 is above close 99.0"),
        ({"volume": -5.0}, "volume", "volume -5.0 is negative"),
        ({"close": np.nan}, "close", "close is missing (NaN)"),
        ({"volume": np.nan}, "volume", "volume is missing (NaN)"),
        ({"open": np.inf}, "open", "open is not finite (inf)"),
        ({"low": -np.inf}, "low", "low is not finite (-inf)"),
        ({"vwap": np.inf}, "vwap", "vwap is not finite (inf)"),
        ({"vwap": -1.0}, "vwap", "vwap -1.0 is negative"),
        ({"trade_count": -3.0}, "trade_count", "trade_count -3.0 is negative"),
        ({"trade_count": -3.5}, "trade_count", "trade_count -3.5 is negative"),
        ({"trade_count": 7.5}, "trade_count", "trade_count 7.5 is not a whole number of trades"),
        ({"trade_count": 1e19}, "trade_count", "trade_count 1e+19 is too large (at most 9223372036854775807)"),
        ({"ts": pd.NaT}, "ts", "timestamp is missing (NaT)"),
    ],
)
def test_each_bad_value_is_one_error_on_its_row(values, field, message):
    frame = with_values(bars(), 3, **values)

    assert validate_bars(frame) == [RowError(4, field, message)]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"high": 1e308}, "high", "high 1e+308 is too large (magnitude must be below 1e18)"),
        ({"open": 1e18, "high": 1e18}, "open", "open 1e+18 is too large (magnitude must be below 1e18)"),
        ({"low": -1e20}, "low", "low -1e+20 is too large (magnitude must be below 1e18)"),
        ({"volume": 1e300}, "volume", "volume 1e+300 is too large (magnitude must be below 1e18)"),
        # Too large, not also negative: one bad number gives one error.
        ({"volume": -1e20}, "volume", "volume -1e+20 is too large (magnitude must be below 1e18)"),
        ({"vwap": 2e18}, "vwap", "vwap 2e+18 is too large (magnitude must be below 1e18)"),
    ],
)
def test_magnitudes_of_1e18_or_more_are_refused(values, field, message):
    frame = with_values(bars(), 3, **values)

    errors = validate_bars(frame)

    assert errors[0] == RowError(4, field, message)
    assert {(error.row, error.field) for error in errors} == {(4, name) for name in values}


def test_magnitudes_just_below_1e18_are_valid():
    frame = with_values(bars(), 1, open=9.99e17, high=9.99e17, low=9.99e17, close=9.99e17, volume=9.99e17, vwap=9.99e17)

    assert validate_bars(frame) == []


@pytest.mark.parametrize(
    ("ts", "shown"),
    [
        ("2200-01-01T00:00:00Z", "2200-01-01T00:00:00Z"),
        ("2262-04-11T00:00:00Z", "2262-04-11T00:00:00Z"),
        ("1899-12-31T23:59:59Z", "1899-12-31T23:59:59Z"),
        ("1677-09-22T00:00:00Z", "1677-09-22T00:00:00Z"),
    ],
)
def test_times_outside_the_supported_range_are_refused(ts, shown):
    frame = with_values(bars(), 2, ts=pd.Timestamp(ts))

    assert validate_bars(frame) == [
        RowError(3, "ts", f"timestamp {shown} is outside the supported range: times go {SUPPORTED_TIMES}")
    ]


def test_supported_range_edges_are_valid_and_microsecond_times_past_2262_are_refused():
    frame = bars(3)
    frame["ts"] = pd.DatetimeIndex(["1900-01-01", "2199-12-31T23:59", "3000-01-01"], tz="UTC").as_unit("us")

    assert [(error.row, error.field) for error in validate_bars(frame)] == [(3, "ts")]


def test_source_row_numbers_are_reported():
    frame = with_values(with_values(bars(), 0, volume=-1.0), 4, close=np.nan)
    source_rows = np.array([12, 14, 15, 16, 30])

    errors = validate_bars(frame, rows=source_rows)

    assert [(error.row, error.field) for error in errors] == [(12, "volume"), (30, "close")]


def test_errors_come_in_row_order_and_stop_at_limit():
    frame = bars(500)
    frame.loc[::2, "volume"] = -1.0
    frame.loc[1::2, "open"] = np.nan

    errors = validate_bars(frame, limit=100)

    assert len(errors) == 100
    assert [error.row for error in errors] == list(range(1, 101))
    assert [error.field for error in errors[:2]] == ["volume", "open"]
    assert len(validate_bars(frame, limit=10_000)) == 500


@pytest.mark.parametrize("dtype", [object, "str"])
def test_text_that_is_not_a_number_is_named(dtype):
    frame = bars(3)
    frame["open"] = pd.Series(["100.5", "abc", None], dtype=dtype)
    frame["high"] = 200.0

    assert validate_bars(frame) == [
        RowError(2, "open", "open 'abc' is not a number"),
        RowError(3, "open", "open is missing (NaN)"),
    ]


def test_missing_columns_are_whole_file_errors():
    errors = validate_bars(bars().drop(columns=["close", "volume"]))

    assert errors == [
        RowError(None, "close", "missing column 'close'"),
        RowError(None, "volume", "missing column 'volume'"),
    ]
    assert errors[0].as_dict() == {"row": None, "field": "close", "message": "missing column 'close'"}


def test_rows_must_match_frame_length():
    with pytest.raises(ValueError, match="rows"):
        validate_bars(bars(3), rows=np.array([1, 2]))


CORRUPTIONS = {
    "high_below_low": lambda f, i: f.loc[i, ["high", "low"]].set_axis(["low", "high"]),
    "negative_volume": lambda f, i: pd.Series({"volume": -1.0 - f.loc[i, "volume"]}),
    "nan_price": lambda f, i: pd.Series({"close": np.nan}),
    "inf_price": lambda f, i: pd.Series({"high": np.inf}),
    "nat": lambda f, i: pd.Series({"ts": pd.NaT}),
    "negative_vwap": lambda f, i: pd.Series({"vwap": -0.5}),
    "fractional_trade_count": lambda f, i: pd.Series({"trade_count": f.loc[i, "trade_count"] + 0.25}),
    "huge_volume": lambda f, i: pd.Series({"volume": 1e30}),
    "unsupported_time": lambda f, i: pd.Series({"ts": pd.Timestamp("2262-01-01", tz="UTC")}),
}


@settings(deadline=None, max_examples=60)
@given(
    st.integers(min_value=1, max_value=300),
    st.data(),
)
def test_validation_finds_exactly_the_corrupted_rows(count, data):
    frame = bars(count, seed=count)
    positions = data.draw(st.sets(st.integers(0, count - 1), max_size=min(count, 30)))
    for position in positions:
        kind = data.draw(st.sampled_from(sorted(CORRUPTIONS)))
        for name, value in CORRUPTIONS[kind](frame, position).items():
            frame.loc[position, name] = value

    errors = validate_bars(frame, limit=10_000)

    assert {error.row for error in errors} == {position + 1 for position in positions}
    assert [error.row for error in errors] == sorted(error.row for error in errors)


# ---------------------------------------------------------------------------- dedup


def test_dedup_collapses_identical_rows():
    frame = bars(4)
    doubled = pd.concat([frame, frame.iloc[[1, 3, 1]]], ignore_index=True)

    result = dedup_bars(doubled)

    assert result.duplicates == 3
    assert result.errors == []
    pd.testing.assert_frame_equal(result.frame, frame)
    assert list(result.rows) == [1, 2, 3, 4]


def test_dedup_treats_unknown_values_as_equal():
    frame = bars(3).assign(vwap=np.nan, trade_count=np.nan)

    result = dedup_bars(pd.concat([frame, frame], ignore_index=True))

    assert result.duplicates == 3
    assert result.errors == []


def test_dedup_reports_conflicting_rows_by_number():
    frame = bars(3)
    conflicting = frame.iloc[[1]].assign(close=frame.loc[1, "close"] + 1.0)
    source = pd.concat([frame, conflicting], ignore_index=True)

    result = dedup_bars(source, rows=np.array([2, 3, 4, 5]))

    assert result.duplicates == 0
    assert len(result.errors) == 1
    error = result.errors[0]
    assert (error.row, error.field) == (5, "ts")
    assert "2024-11-27T14:31:00Z" in error.message
    assert "row 5 conflicts with row 3" in error.message
    first_close = float(frame.loc[1, "close"])
    assert f"close {first_close + 1.0!r} vs {first_close!r}" in error.message
    pd.testing.assert_frame_equal(result.frame, frame)  # the first row of the timestamp is kept


def test_dedup_sorts_by_ts_and_keeps_source_row_numbers():
    frame = bars(5)
    shuffled = frame.iloc[[3, 0, 4, 1, 2]].reset_index(drop=True)

    result = dedup_bars(shuffled)

    pd.testing.assert_frame_equal(result.frame, frame)
    assert list(result.rows) == [2, 4, 5, 1, 3]


def test_dedup_counts_repeat_of_first_row_even_after_a_conflict():
    frame = bars(1)
    changed = frame.assign(volume=frame["volume"] + 1.0)
    result = dedup_bars(pd.concat([frame, changed, frame], ignore_index=True))

    assert result.duplicates == 1
    assert [error.row for error in result.errors] == [2]
    assert len(result.frame) == 1


@settings(deadline=None, max_examples=60)
@given(
    st.integers(min_value=1, max_value=200),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=100),
    st.randoms(),
)
def test_dedup_of_shuffled_copies_gives_back_the_bars(count, picks, random):
    frame = bars(count, seed=count)
    copies = frame.iloc[[pick % count for pick in picks]]
    mixed = pd.concat([frame, copies], ignore_index=True)
    order = list(range(len(mixed)))
    random.shuffle(order)

    result = dedup_bars(mixed.iloc[order].reset_index(drop=True))

    assert result.duplicates == len(picks)
    assert result.errors == []
    pd.testing.assert_frame_equal(result.frame, frame)


def test_normalize_bars_sorts_and_fills_unknown_columns():
    frame = bars(4).drop(columns=["trade_count", "vwap"]).iloc[::-1]
    frame["ts"] = frame["ts"].dt.tz_convert("America/New_York").dt.as_unit("us")
    frame["extra"] = 1

    normalized = normalize_bars(frame)

    assert list(normalized.columns) == BAR_COLUMNS
    assert normalized["ts"].dtype == "datetime64[ns, UTC]"
    assert normalized["ts"].is_monotonic_increasing
    assert normalized[["trade_count", "vwap"]].isna().all().all()
    assert dict(normalized.dtypes) == dict(empty_bars().dtypes)
