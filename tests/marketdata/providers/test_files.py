"""Uploaded bar files: formats, headers, timestamps, row errors."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.core.errors import RowError
from marketdata.providers.files import parse_bars_file

COLUMNS = ["ts", "open", "high", "low", "close", "volume", "trade_count", "vwap"]
HEADER = "timestamp,open,high,low,close,volume"


def bars(count: int = 3) -> pd.DataFrame:
    """Return a small normalized frame: one bar a minute from 2024-01-02 14:30Z."""
    base = np.arange(count, dtype=float)
    return pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-02 14:30", periods=count, freq="min", tz="UTC").as_unit("ns"),
            "open": 100.0 + base,
            "high": 101.5 + base,
            "low": 99.25 + base,
            "close": 100.5 + base,
            "volume": 1000.0 + base,
            "trade_count": 10.0 + base,
            "vwap": 100.125 + base,
        }
    )


def only_frame(parsed) -> pd.DataFrame:
    assert parsed.errors == []
    assert list(parsed.frames) == [None]
    return parsed.frames[None]


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def test_row_error_as_dict_has_the_api_shape():
    assert RowError(3, "high", "not a number: 'x'").as_dict() == {
        "row": 3,
        "field": "high",
        "message": "not a number: 'x'",
    }


# --- formats --------------------------------------------------------------------------


def test_csv_round_trip_gives_the_normalized_frame():
    expected = bars()
    data = expected.assign(ts=expected["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(index=False).encode()

    parsed = parse_bars_file(data, filename="bars.csv")

    frame = only_frame(parsed)
    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame.columns) == COLUMNS
    assert isinstance(frame.index, pd.RangeIndex)
    assert parsed.rows_total == 3
    assert parsed.rows[None].tolist() == [1, 2, 3]
    assert parsed.format == "csv"


def test_json_array_round_trip():
    expected = bars()
    data = expected.to_json(orient="records", date_format="iso").encode()

    pd.testing.assert_frame_equal(only_frame(parse_bars_file(data, filename="bars.json")), expected)


def test_json_bars_envelope_in_the_api_shape_round_trips():
    expected = bars()
    records = [
        {"t": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "o": o, "h": h, "l": lo, "c": c, "v": v, "n": n, "vwap": vw}
        for t, o, h, lo, c, v, n, vw in expected.itertuples(index=False)
    ]
    data = json.dumps({"symbol": "AAPL", "interval": "1m", "bars": records, "next": None}).encode()

    pd.testing.assert_frame_equal(only_frame(parse_bars_file(data, filename="export.json")), expected)


def test_json_lines_round_trip_with_epoch_milliseconds():
    expected = bars()
    lines = expected.assign(ts=expected["ts"].astype("int64") // 10**6).to_json(orient="records", lines=True)

    parsed = parse_bars_file(lines.encode(), filename="bars.jsonl")

    pd.testing.assert_frame_equal(only_frame(parsed), expected)


def test_parquet_round_trip_keeps_tz_aware_timestamps():
    expected = bars()
    buffer = io.BytesIO()
    expected.to_parquet(buffer, index=False)

    parsed = parse_bars_file(buffer.getvalue(), filename="bars.parquet")

    pd.testing.assert_frame_equal(only_frame(parsed), expected)
    assert parsed.format == "parquet"


def test_parquet_is_recognised_by_its_magic_without_an_extension():
    buffer = io.BytesIO()
    bars().to_parquet(buffer, index=False)

    assert len(only_frame(parse_bars_file(buffer.getvalue(), filename="upload"))) == 3


def test_json_is_sniffed_when_the_file_has_no_extension():
    data = bars().to_json(orient="records", date_format="iso").encode()

    assert len(only_frame(parse_bars_file(data))) == 3


def test_semicolon_delimited_csv_is_read():
    data = b"timestamp;open;high;low;close;volume\n2024-01-02T14:30:00Z;1;2;0.5;1.5;100\n"

    assert only_frame(parse_bars_file(data, filename="bars.csv"))["close"].tolist() == [1.5]


@given(
    prices=st.lists(
        st.floats(min_value=0.0001, max_value=1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=30
    )
)
@settings(max_examples=40, deadline=None)
def test_csv_round_trip_keeps_every_float_exactly(prices: list[float]):
    count = len(prices)
    expected = pd.DataFrame(
        {
            "ts": pd.date_range("2024-03-01", periods=count, freq="s", tz="UTC").as_unit("ns"),
            **{name: np.array(prices) for name in COLUMNS[1:]},
        }
    )
    data = expected.to_csv(index=False).encode()

    pd.testing.assert_frame_equal(only_frame(parse_bars_file(data, filename="x.csv")), expected)


# --- headers --------------------------------------------------------------------------


def test_headers_are_case_insensitive_trimmed_and_short_names_work():
    data = csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100,7,1.25", header=" TIME , O,H , l,C,Volume,Trades, VWAP")

    frame = only_frame(parse_bars_file(data, filename="bars.csv"))

    assert frame.iloc[0][COLUMNS[1:]].tolist() == [1.0, 2.0, 0.5, 1.5, 100.0, 7.0, 1.25]
    assert frame["ts"].iloc[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")


def test_missing_required_column_is_one_file_error_naming_it():
    data = csv_bytes("2024-01-02T14:30:00Z,1,0.5,1.5,100", header="timestamp,open,low,close,volume")

    parsed = parse_bars_file(data, filename="bars.csv")

    assert parsed.errors == [RowError(None, "high", "missing required column 'high'")]
    assert parsed.frames == {}


def test_missing_timestamp_column_is_reported_on_field_timestamp():
    parsed = parse_bars_file(csv_bytes("1,2,0.5,1.5,100", header="open,high,low,close,volume"), filename="a.csv")

    assert parsed.errors == [RowError(None, "timestamp", "missing required column 'timestamp'")]


def test_separate_date_and_time_columns_are_joined():
    data = csv_bytes("2024-01-02,09:30:00,1,2,0.5,1.5,100", header="Date,Time,Open,High,Low,Close,Volume")

    frame = only_frame(parse_bars_file(data, filename="bars.csv", tz="America/New_York"))

    assert frame["ts"].tolist() == [pd.Timestamp("2024-01-02 14:30", tz="UTC")]


def test_missing_optional_trade_count_and_vwap_are_nan():
    frame = only_frame(parse_bars_file(csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100"), filename="a.csv"))

    assert frame["trade_count"].isna().all() and frame["vwap"].isna().all()
    assert frame.dtypes.astype(str).tolist() == ["datetime64[ns, UTC]"] + ["float64"] * 7


def test_empty_optional_value_is_nan_but_empty_required_value_is_an_error():
    header = "timestamp,open,high,low,close,volume,vwap"
    data = csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100,", "2024-01-02T14:31:00Z,1,2,0.5,,100,1.2", header=header)

    parsed = parse_bars_file(data, filename="a.csv")

    assert parsed.errors == [RowError(2, "close", "missing value")]
    assert parsed.frames[None]["vwap"].isna().tolist() == [True]


# --- timestamps -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "epoch",
    ["1704205800", "1704205800000", "1704205800000000", "1704205800000000000", "1704205800.0"],
    ids=["seconds", "milliseconds", "microseconds", "nanoseconds", "float-seconds"],
)
def test_epoch_unit_is_detected_by_magnitude(epoch: str):
    frame = only_frame(parse_bars_file(csv_bytes(f"{epoch},1,2,0.5,1.5,100"), filename="a.csv"))

    assert frame["ts"].tolist() == [pd.Timestamp("2024-01-02 14:30", tz="UTC")]


def test_fractional_epoch_seconds_keep_their_milliseconds():
    frame = only_frame(parse_bars_file(csv_bytes("1704205800.25,1,2,0.5,1.5,100"), filename="a.csv"))

    assert frame["ts"].iloc[0] == pd.Timestamp("2024-01-02 14:30:00.250", tz="UTC")


def test_nanosecond_epoch_in_text_keeps_every_digit():
    data = csv_bytes("1704205800123456789,1,2,0.5,1.5,100", "x,1,2,0.5,1.5,100")

    parsed = parse_bars_file(data, filename="a.csv")

    assert parsed.frames[None]["ts"].iloc[0] == pd.Timestamp("2024-01-02 14:30:00.123456789", tz="UTC")


def test_offset_timestamps_are_converted_to_utc():
    data = csv_bytes("2024-01-02T09:30:00-05:00,1,2,0.5,1.5,100", "2024-01-02T15:31:00+01:00,1,2,0.5,1.5,100")

    frame = only_frame(parse_bars_file(data, filename="a.csv"))

    assert frame["ts"].tolist() == [
        pd.Timestamp("2024-01-02 14:30", tz="UTC"),
        pd.Timestamp("2024-01-02 14:31", tz="UTC"),
    ]


def test_mixed_z_and_offset_timestamps_are_converted_to_utc():
    data = csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100", "2024-01-02 16:31:00+02:00,1,2,0.5,1.5,100")

    frame = only_frame(parse_bars_file(data, filename="a.csv"))

    assert frame["ts"].dt.strftime("%H:%M").tolist() == ["14:30", "14:31"]


def test_naive_timestamps_without_tz_refuse_the_whole_file():
    data = csv_bytes("2024-01-02 09:30:00,1,2,0.5,1.5,100", "2024-01-02T14:31:00Z,1,2,0.5,1.5,100")

    parsed = parse_bars_file(data, filename="a.csv")

    assert parsed.frames == {}
    assert len(parsed.errors) == 1
    error = parsed.errors[0]
    assert (error.row, error.field) == (None, "timestamp")
    assert "tz" in error.message


def test_naive_timestamps_with_tz_are_converted_across_dst():
    data = csv_bytes("2024-01-02 09:30:00,1,2,0.5,1.5,100", "2024-07-01 09:30:00,1,2,0.5,1.5,100")

    frame = only_frame(parse_bars_file(data, filename="a.csv", tz="America/New_York"))

    assert frame["ts"].tolist() == [
        pd.Timestamp("2024-01-02 14:30", tz="UTC"),  # EST, UTC-5
        pd.Timestamp("2024-07-01 13:30", tz="UTC"),  # EDT, UTC-4
    ]


def test_date_only_timestamps_are_midnight_in_tz():
    frame = only_frame(parse_bars_file(csv_bytes("2024-07-01,1,2,0.5,1.5,100"), filename="d.csv", tz="Europe/London"))

    assert frame["ts"].tolist() == [pd.Timestamp("2024-06-30 23:00", tz="UTC")]


def test_tz_does_not_move_timestamps_that_carry_an_offset():
    data = csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100")

    frame = only_frame(parse_bars_file(data, filename="a.csv", tz="Asia/Tokyo"))

    assert frame["ts"].tolist() == [pd.Timestamp("2024-01-02 14:30", tz="UTC")]


def test_local_time_in_the_spring_forward_gap_is_a_row_error():
    data = csv_bytes("2024-03-10 01:59:00,1,2,0.5,1.5,100", "2024-03-10 02:30:00,1,2,0.5,1.5,100")

    parsed = parse_bars_file(data, filename="a.csv", tz="America/New_York")

    assert [(e.row, e.field) for e in parsed.errors] == [(2, "timestamp")]
    assert "does not exist" in parsed.errors[0].message
    assert parsed.rows[None].tolist() == [1]


def test_repeated_fall_back_hour_is_resolved_from_file_order():
    rows = [f"2024-11-03 {clock},1,2,0.5,1.5,100" for clock in ("01:30", "01:59", "01:30", "01:59")]

    frame = only_frame(parse_bars_file(csv_bytes(*rows), filename="a.csv", tz="America/New_York"))

    assert frame["ts"].dt.strftime("%H:%M").tolist() == ["05:30", "05:59", "06:30", "06:59"]


def test_unknown_tz_is_an_error_on_field_tz():
    parsed = parse_bars_file(csv_bytes("2024-01-02 09:30,1,2,0.5,1.5,100"), filename="a.csv", tz="Mars/Olympus")

    assert [(e.row, e.field) for e in parsed.errors] == [(None, "tz")]
    assert "Mars/Olympus" in parsed.errors[0].message


def test_unparseable_timestamp_is_reported_with_its_row_and_value():
    data = csv_bytes(
        "2024-01-02T14:30:00Z,1,2,0.5,1.5,100",
        "2024-01-02T14:31:00Z,1,2,0.5,1.5,100",
        "yesterday noon,1,2,0.5,1.5,100",
    )

    parsed = parse_bars_file(data, filename="a.csv")

    assert len(parsed.errors) == 1
    error = parsed.errors[0]
    assert (error.row, error.field) == (3, "timestamp")
    assert "yesterday noon" in error.message
    assert parsed.rows[None].tolist() == [1, 2]


def test_timestamp_outside_the_nanosecond_range_is_a_row_error():
    parsed = parse_bars_file(csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100", "1e19,1,2,0.5,1.5,100"), filename="a")

    assert [(e.row, e.field) for e in parsed.errors] == [(2, "timestamp")]
    assert "outside" in parsed.errors[0].message


# --- numbers and row errors -----------------------------------------------------------


def test_non_numeric_price_is_reported_with_row_field_and_value():
    data = csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100", "2024-01-02T14:31:00Z,1,2,abc,1.5,100")

    parsed = parse_bars_file(data, filename="a.csv")

    assert parsed.errors == [RowError(2, "low", "not a number: 'abc'")]
    assert parsed.errors_total == 1
    assert parsed.rows[None].tolist() == [1]


def test_bad_value_far_into_a_large_csv_is_found_with_its_row():
    rows = [f"{1704205800 + 60 * i},1,2,0.5,1.5,100" for i in range(60_000)]
    rows[54_321] = rows[54_321].replace(",2,", ",2..5,")

    parsed = parse_bars_file(csv_bytes(*rows), filename="big.csv")

    assert parsed.errors == [RowError(54_322, "high", "not a number: '2..5'")]
    assert len(parsed.frames[None]) == 59_999


def test_row_with_the_wrong_number_of_fields_is_a_row_error():
    data = csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100", "2024-01-02T14:31:00Z,1,2,0.5,1.5,100,9")

    parsed = parse_bars_file(data, filename="a.csv")

    assert parsed.errors == [RowError(2, "file", "expected 6 fields, found 7")]
    assert parsed.rows[None].tolist() == [1]


def test_blank_lines_are_not_counted_as_rows():
    data = b"timestamp,open,high,low,close,volume\n\n2024-01-02T14:30:00Z,1,2,0.5,1.5,100\n\nbad,1,2,0.5,1.5,100\n"

    parsed = parse_bars_file(data, filename="a.csv")

    assert [(e.row, e.field) for e in parsed.errors] == [(2, "timestamp")]


def test_json_rows_are_numbered_from_one_and_mixed_types_are_checked():
    records = [
        {"timestamp": "2024-01-02T14:30:00Z", "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 100},
        {"timestamp": "2024-01-02T14:31:00Z", "open": "1.1", "high": 2, "low": 0.5, "close": "n/a?", "volume": 1},
        [1, 2, 3],
    ]

    parsed = parse_bars_file(json.dumps(records).encode(), filename="a.json")

    assert parsed.errors == [
        RowError(2, "close", "not a number: 'n/a?'"),
        RowError(3, "file", "expected a JSON object, found list"),
    ]
    assert parsed.rows_total == 3


def test_broken_json_line_is_reported_with_its_row():
    good = json.dumps({"ts": 1704205800, "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 100})
    data = "\n".join([good, '{"ts": 1704205860, "o": 1,', good.replace("800", "920")]).encode()

    parsed = parse_bars_file(data, filename="a.ndjson")

    assert [(e.row, e.field) for e in parsed.errors] == [(2, "file")]
    assert parsed.rows[None].tolist() == [1, 3]


def test_max_errors_caps_the_list_but_counts_every_error():
    rows = [f"2024-01-02T14:{i % 60:02d}:00Z,x{i},2,0.5,1.5,100" for i in range(500)]

    parsed = parse_bars_file(csv_bytes(*rows), filename="a.csv", max_errors=10)

    assert len(parsed.errors) == 10
    assert parsed.errors_total == 500
    assert [e.row for e in parsed.errors] == list(range(1, 11))
    assert not parsed.ok


def test_errors_are_ordered_by_row_then_field():
    data = csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,x", "bad,1,y,0.5,1.5,100")

    parsed = parse_bars_file(data, filename="a.csv")

    assert [(e.row, e.field) for e in parsed.errors] == [(1, "volume"), (2, "timestamp"), (2, "high")]


# --- whole-file problems ---------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"  \n\n"], ids=["zero-bytes", "whitespace"])
def test_empty_file_is_refused(data: bytes):
    parsed = parse_bars_file(data, filename="a.csv")

    assert parsed.errors == [RowError(None, "file", "file is empty")]


@pytest.mark.parametrize(
    ("data", "filename"),
    [(HEADER.encode() + b"\n", "a.csv"), (HEADER.encode(), "a.csv"), (b"[]", "a.json"), (b'{"bars": []}', "a.json")],
    ids=["csv-header", "csv-header-no-newline", "json-array", "json-envelope"],
)
def test_file_without_data_rows_is_refused(data: bytes, filename: str):
    parsed = parse_bars_file(data, filename=filename)

    assert [(e.row, e.field) for e in parsed.errors] == [(None, "file")]
    assert "no rows" in parsed.errors[0].message
    assert parsed.rows_total == 0


def test_png_image_is_an_unsupported_file_type():
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)

    parsed = parse_bars_file(png, filename="chart.png")

    assert [(e.row, e.field) for e in parsed.errors] == [(None, "file")]
    assert parsed.errors[0].message.startswith("unsupported file type")


def test_zip_archive_is_an_unsupported_file_type_even_named_csv():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bars.csv", csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100"))

    parsed = parse_bars_file(buffer.getvalue(), filename="bars.csv")

    assert parsed.errors[0].field == "file"
    assert "unsupported file type" in parsed.errors[0].message


def test_parquet_extension_without_parquet_content_is_refused():
    parsed = parse_bars_file(csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100"), filename="bars.parquet")

    assert parsed.errors[0].message.startswith("unsupported file type")


def test_invalid_json_document_is_a_file_error():
    parsed = parse_bars_file(b"[{not json", filename="a.json")

    assert [(e.row, e.field) for e in parsed.errors] == [(None, "file")]


# --- symbols and ordering --------------------------------------------------------------


def test_multi_symbol_file_is_split_by_symbol_sorted_with_rows_aligned():
    header = "symbol,timestamp,open,high,low,close,volume"
    data = csv_bytes(
        "MSFT,2024-01-02T14:31:00Z,11,12,10,11,5",
        "AAPL,2024-01-02T14:31:00Z,1,2,0.5,1.5,100",
        " MSFT ,2024-01-02T14:30:00Z,10,12,10,11,5",
        "AAPL,2024-01-02T14:30:00Z,1,2,0.5,1.5,100",
        "0700,2024-01-02T14:30:00Z,1,2,0.5,1.5,100",
        header=header,
    )

    parsed = parse_bars_file(data, filename="a.csv")

    assert parsed.errors == []
    assert sorted(parsed.frames) == ["0700", "AAPL", "MSFT"]
    msft = parsed.frames["MSFT"]
    assert msft["ts"].is_monotonic_increasing
    assert msft["open"].tolist() == [10.0, 11.0]
    assert parsed.rows["MSFT"].tolist() == [3, 1]
    assert parsed.rows["AAPL"].tolist() == [4, 2]
    assert isinstance(msft.index, pd.RangeIndex)


def test_blank_symbol_is_a_row_error():
    data = csv_bytes(
        "AAPL,2024-01-02T14:30:00Z,1,2,0.5,1.5,100", ",2024-01-02T14:31:00Z,1,2,0.5,1.5,100", header="symbol," + HEADER
    )

    parsed = parse_bars_file(data, filename="a.csv")

    assert parsed.errors == [RowError(2, "symbol", "missing symbol")]


def test_unsorted_file_is_sorted_by_ts_with_rows_aligned():
    data = csv_bytes(
        "2024-01-02T14:32:00Z,3,3,3,3,3", "2024-01-02T14:30:00Z,1,1,1,1,1", "2024-01-02T14:31:00Z,2,2,2,2,2"
    )

    parsed = parse_bars_file(data, filename="a.csv")

    assert parsed.frames[None]["open"].tolist() == [1.0, 2.0, 3.0]
    assert parsed.rows[None].tolist() == [2, 3, 1]


def test_parquet_with_naive_timestamps_uses_tz():
    table = pa.table(
        {
            "Datetime": pa.array([pd.Timestamp("2024-07-01 09:30")], pa.timestamp("us")),
            "Open": [1.0],
            "High": [2.0],
            "Low": [0.5],
            "Close": [1.5],
            "Volume": pa.array([100], pa.int64()),
            "Symbol": pa.array(["SPY"]).dictionary_encode(),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)

    parsed = parse_bars_file(buffer.getvalue(), filename="spy.pq", tz="America/New_York")

    assert parsed.errors == []
    assert parsed.frames["SPY"]["ts"].tolist() == [pd.Timestamp("2024-07-01 13:30", tz="UTC")]


def test_excel_style_csv_with_bom_crlf_and_semicolons_is_read():
    data = "\ufeffDate;Open;High;Low;Close;Volume\r\n2024-01-02T14:30:00Z;1;2;0.5;1.5;100\r\n".encode()

    frame = only_frame(parse_bars_file(data, filename="export.csv"))

    assert frame["ts"].tolist() == [pd.Timestamp("2024-01-02 14:30", tz="UTC")]
    assert frame["volume"].tolist() == [100.0]


# --- odd but readable files, and odd values that are row errors ------------------------


def test_cr_only_line_endings_are_read_with_row_numbers():
    data = "\r".join([HEADER, "2024-01-02T14:30:00Z,1,2,0.5,1.5,100", "", "bad,1,2,0.5,1.5,100"]).encode()

    parsed = parse_bars_file(data, filename="mac.csv")

    assert parsed.errors == [
        RowError(2, "timestamp", "cannot parse timestamp 'bad' (expected ISO-8601 or an epoch number)")
    ]
    assert parsed.frames[None]["ts"].tolist() == [pd.Timestamp("2024-01-02 14:30", tz="UTC")]


def test_cr_only_broken_row_is_named_by_the_record_reader():
    data = "\r".join([HEADER, "2024-01-02T14:30:00Z,1,2,0.5,1.5,100", "2024-01-02T14:31:00Z,1,2"]).encode()

    parsed = parse_bars_file(data, filename="mac.csv")

    assert parsed.errors == [RowError(2, "file", "expected 6 fields, found 3")]


@pytest.mark.parametrize("boms", [2, 3])
def test_repeated_byte_order_marks_are_skipped(boms: int):
    data = b"\xef\xbb\xbf" * boms + csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100")

    frame = only_frame(parse_bars_file(data, filename="a.csv"))

    assert frame["volume"].tolist() == [100.0]


def test_csv_bytes_that_are_not_utf8_are_decoded_and_only_the_bad_value_is_named():
    data = csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100", "2024-01-02T14:31:00Z,1,2,0.5,1.5,1\xe90").replace(
        "\xe9".encode(), b"\xe9"
    )

    parsed = parse_bars_file(data, filename="a.csv")

    assert parsed.errors == [RowError(2, "volume", "not a number: '1\xe90'")]


@pytest.mark.parametrize("filename", ["a.csv", "a.json"])
def test_integers_past_2_53_are_read_as_the_nearest_float(filename: str):
    record = {"timestamp": "2024-01-02T14:30:00Z", "open": 1, "high": 2, "low": 0.5, "close": 1.5}
    big = 9007199254740993
    if filename == "a.csv":
        data = csv_bytes(f"2024-01-02T14:30:00Z,1,2,0.5,1.5,{big},{big}", header=HEADER + ",trade_count")
    else:
        data = json.dumps([{**record, "volume": big, "trade_count": big}]).encode()

    frame = only_frame(parse_bars_file(data, filename=filename))

    assert frame[["volume", "trade_count"]].values.tolist() == [[float(big), float(big)]]


def test_uint64_parquet_columns_are_read_as_floats_and_epochs():
    table = pa.table(
        {
            "ts": pa.array([1704205800, 2**64 - 1], pa.uint64()),
            **{name: [1.0, 1.0] for name in ("open", "high", "low", "close")},
            "volume": pa.array([2**64 - 1, 2**53 + 1], pa.uint64()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)

    parsed = parse_bars_file(buffer.getvalue(), filename="a.parquet")

    assert [(e.row, e.field) for e in parsed.errors] == [(2, "timestamp")]
    assert "outside the supported range" in parsed.errors[0].message
    assert parsed.frames[None]["volume"].tolist() == [float(2**64)]


@pytest.mark.parametrize("kind", [pa.int32(), pa.uint32(), pa.int64(), pa.uint64()], ids=str)
def test_integer_parquet_epochs_of_any_width_are_read(kind: pa.DataType):
    table = pa.table(
        {
            "ts": pa.array([1704205800, None], kind),
            **{name: [1.0, 1.0] for name in ("open", "high", "low", "close", "volume")},
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)

    parsed = parse_bars_file(buffer.getvalue(), filename="a.parquet")

    assert parsed.errors == [RowError(2, "timestamp", "missing timestamp")]
    assert parsed.frames[None]["ts"].tolist() == [pd.Timestamp("2024-01-02 14:30", tz="UTC")]


@pytest.mark.parametrize(
    "timestamp",
    ["2200-01-01T00:00:00Z", "2262-04-11T23:47:16Z", "1899-12-31T23:59:59Z", "1677-09-22T00:12:44Z", "7258118400"],
    ids=["2200", "2262", "1899", "1677", "epoch-2200"],
)
def test_times_outside_the_supported_range_are_row_errors(timestamp: str):
    data = csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100", f"{timestamp},1,2,0.5,1.5,100")

    parsed = parse_bars_file(data, filename="a.csv")

    assert [(e.row, e.field) for e in parsed.errors] == [(2, "timestamp")]
    assert "times go from 1900-01-01 up to 2200-01-01 (UTC)" in parsed.errors[0].message


@pytest.mark.parametrize(
    ("wall", "tz", "ok"),
    [
        ("2262-04-11 23:00:00", "America/New_York", False),
        ("1677-09-21 01:00:00", "Asia/Tokyo", False),
        ("2199-12-31 22:00:00", "America/New_York", False),  # 2200-01-01 03:00 UTC
        ("1900-01-01 09:00:00", "Asia/Tokyo", True),
    ],
)
def test_naive_times_are_checked_against_the_supported_range_in_utc(wall: str, tz: str, ok: bool):
    data = csv_bytes(f"{wall},1,2,0.5,1.5,100", header="datetime,open,high,low,close,volume")

    parsed = parse_bars_file(data, filename="a.csv", tz=tz)

    assert [(e.row, e.field) for e in parsed.errors] == ([] if ok else [(1, "timestamp")])


@pytest.mark.parametrize("tz", ["A" * 300, "America", "zone1970.tab", "America/../Europe/Paris"])
def test_tz_that_is_not_a_zone_is_an_error_on_field_tz(tz: str):
    parsed = parse_bars_file(csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100"), filename="a.csv", tz=tz)

    assert [(e.row, e.field) for e in parsed.errors] == [(None, "tz")]
    assert len(parsed.errors[0].message) < 120


def test_nul_in_a_symbol_is_a_row_error():
    # Past the first 8 KiB, which decide whether a file is binary.
    rows = ["SPY,2024-01-02T14:30:00Z,1,2,0.5,1.5,100"] * 300 + ["S\0PY,2024-01-02T14:31:00Z,1,2,0.5,1.5,100"]

    parsed = parse_bars_file(csv_bytes(*rows, header="symbol," + HEADER), filename="a.csv")

    assert parsed.errors == [RowError(301, "symbol", "invalid symbol 'S\\x00PY': it contains a NUL character")]


DEEP = "[" * 990 + "1" + "]" * 990


@pytest.mark.parametrize(
    ("data", "filename", "field"),
    [
        ('[{"t": "2024-01-02T14:30:00Z", "o": ' + DEEP + ', "h": 2, "l": 0.5, "c": 1, "v": 1}]', "a.json", "open"),
        ('[{"t": ' + DEEP + ', "o": 1, "h": 2, "l": 0.5, "c": 1, "v": 1}, {"t": "x"}]', "a.json", "timestamp"),
        (
            '{"t": "2024-01-02T14:30:00Z", "o": 1, "h": 2, "l": 0.5, "c": 1, "v": 1}\n{"t": 1, "o": ' + DEEP + "}",
            "a.jsonl",
            "open",
        ),
    ],
    ids=["array", "mixed-types", "json-lines"],
)
def test_deeply_nested_json_values_are_row_errors(data: str, filename: str, field: str):
    parsed = parse_bars_file(data.encode(), filename=filename)

    error = next(e for e in parsed.errors if e.field == field)
    assert error.row is not None
    assert "[[[[" in error.message


def test_json_number_too_large_for_a_double_is_a_file_error_saying_where():
    parsed = parse_bars_file(b'[{"t": "2024-01-02T14:30:00Z", "o": 1e999}]', filename="a.json")

    assert [(e.row, e.field) for e in parsed.errors] == [(None, "file")]
    assert "infinity" in parsed.errors[0].message


def test_time_beyond_python_datetime_is_shown_in_its_error():
    table = pa.table(
        {
            "ts": pa.array([2**62], pa.timestamp("ms")),
            **{name: [1.0] for name in ("open", "high", "low", "close", "volume")},
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)

    parsed = parse_bars_file(buffer.getvalue(), filename="a.parquet", tz="UTC")

    assert [(e.row, e.field) for e in parsed.errors] == [(1, "timestamp")]
    assert str(2**62)[:10] in parsed.errors[0].message


def test_csv_header_name_past_the_field_size_limit_is_a_file_error():
    data = csv_bytes("2024-01-02T14:30:00Z,1,2,0.5,1.5,100,1", header=HEADER + "," + "x" * 200_000)

    parsed = parse_bars_file(data, filename="a.csv")

    assert [(e.row, e.field) for e in parsed.errors] == [(None, "file")]
    assert "cannot read the CSV header" in parsed.errors[0].message


def test_date_column_without_text_is_not_joined_to_times_of_day():
    table = pa.table(
        {
            "date": pa.array([{"day": 2}]),
            "time": pa.array(["14:30"]),
            **{name: [1.0] for name in ("open", "high", "low", "close", "volume")},
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)

    parsed = parse_bars_file(buffer.getvalue(), filename="a.parquet", tz="UTC")

    assert [(e.row, e.field) for e in parsed.errors] == [(1, "timestamp")]


def test_parquet_string_view_columns_are_read_as_text():
    table = pa.table(
        {
            "ts": pa.array(["2024-01-02T14:30:00Z"], pa.string_view()),
            "open": pa.array(["1"], pa.string_view()),
            **{name: [2.0] for name in ("high", "close", "volume")},
            "low": [0.5],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)

    frame = only_frame(parse_bars_file(buffer.getvalue(), filename="a.parquet"))

    assert frame[["ts", "open"]].values.tolist() == [[pd.Timestamp("2024-01-02 14:30", tz="UTC"), 1.0]]
