import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from marketdata import store
from tests.factories import SymbolFactory

pytestmark = pytest.mark.django_db

GOOD_CSV = """timestamp,open,high,low,close,volume
2024-11-26T14:30:00Z,100,101,99.5,100.5,1200
2024-11-26T14:31:00Z,100.5,101.2,100.1,101,900
2024-11-26T14:32:00Z,101,101.5,100.8,101.2,700
"""


def upload(client, content: bytes | str, name: str = "bars.csv", **fields):
    data = content.encode() if isinstance(content, str) else content
    payload = {"file": SimpleUploadedFile(name, data), **fields}
    payload.setdefault("symbol", "ACME")
    if payload["symbol"] is None:
        del payload["symbol"]
    return client.post("/api/v1/imports", payload, format="multipart")


def stored_count(symbol) -> int:
    return len(store.bars_read(symbol_id=symbol.id, interval="1m"))


def test_csv_import_is_accepted_and_writes_every_row(user_api, symbol):
    response = upload(user_api, GOOD_CSV)
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["rows_total"], body["rows_inserted"], body["rows_duplicate"]) == ("succeeded", 3, 3, 0)
    polled = user_api.get(f"/api/v1/imports/{body['id']}").json()
    assert (polled["status"], polled["progress"], polled["symbols"]) == ("succeeded", 1.0, ["ACME/XNYS"])
    bars = store.bars_read(symbol_id=symbol.id, interval="1m")
    assert bars["ts"].iloc[0] == pd.Timestamp("2024-11-26T14:30Z")
    assert bars["high"].tolist() == [101, 101.2, 101.5]


def test_reimport_adds_nothing_and_reports_duplicates(user_api, symbol):
    upload(user_api, GOOD_CSV)
    again = upload(user_api, GOOD_CSV).json()
    assert (again["rows_inserted"], again["rows_duplicate"]) == (0, 3)
    assert stored_count(symbol) == 3


def test_replace_overwrites_and_skip_keeps(user_api, symbol):
    upload(user_api, GOOD_CSV)
    changed = GOOD_CSV.replace("100.5,1200", "100.5,5000")
    skipped = upload(user_api, changed).json()
    assert skipped["rows_inserted"] == 0
    assert store.bars_read(symbol_id=symbol.id, interval="1m")["volume"].iloc[0] == 1200
    replaced = upload(user_api, changed, on_conflict="replace").json()
    assert (replaced["rows_updated"], replaced["rows_duplicate"]) == (1, 2)
    assert store.bars_read(symbol_id=symbol.id, interval="1m")["volume"].iloc[0] == 5000


def test_identical_duplicate_rows_in_one_file_collapse(user_api, symbol):
    lines = GOOD_CSV.strip().splitlines()
    body = upload(user_api, "\n".join(lines + [lines[1]]) + "\n").json()
    assert (body["rows_total"], body["rows_inserted"], body["rows_duplicate"]) == (4, 3, 1)


def test_json_and_parquet_uploads(user_api, symbol):
    rows = [
        {"time": 1732631400, "Open": 1, "High": 2, "Low": 0.5, "Close": 1.5, "Volume": 10},
        {"time": 1732631460, "Open": 1.5, "High": 2, "Low": 1, "Close": 1.2, "Volume": 11},
    ]
    body = upload(user_api, json.dumps({"bars": rows}), name="bars.json").json()
    assert body["rows_inserted"] == 2
    frame = pd.DataFrame(
        {"ts": pd.to_datetime(["2024-11-26T14:40Z", "2024-11-26T14:41Z"]), "open": [1.0, 1], "high": [2.0, 2],
         "low": [0.5, 0.5], "close": [1.0, 1], "volume": [5.0, 6]}
    )  # fmt: skip
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    assert upload(user_api, buffer.getvalue(), name="bars.parquet").json()["rows_inserted"] == 2
    assert stored_count(symbol) == 4


def test_multi_symbol_file_splits_rows_by_symbol(user_api, symbol):
    other = SymbolFactory(ticker="BETA", venue="XNYS")
    text = (
        "symbol,ts,open,high,low,close,volume\nACME,2024-11-26T14:30Z,1,2,0.5,1,10\nBETA,2024-11-26T14:30Z,5,6,4,5,20\n"
    )
    body = upload(user_api, text, symbol=None).json()
    assert body["rows_inserted"] == 2
    assert sorted(body["symbols"]) == ["ACME/XNYS", "BETA/XNYS"]
    assert store.bars_read(symbol_id=other.id, interval="1m")["close"].tolist() == [5.0]


def test_naive_timestamps_with_tz_are_market_local(user_api, symbol):
    text = "datetime,open,high,low,close,volume\n2024-11-26 09:30:00,1,2,0.5,1,10\n"
    assert upload(user_api, text, tz="America/New_York").status_code == 202
    assert store.bars_read(symbol_id=symbol.id, interval="1m")["ts"].iloc[0] == pd.Timestamp("2024-11-26T14:30Z")


HEADER = "timestamp,open,high,low,close,volume\n"


def parquet_bytes(**columns) -> bytes:
    """One-bar Parquet file at 2024-11-26T14:30Z; `columns` replace or add columns."""
    table = {
        "timestamp": pa.array([pd.Timestamp("2024-11-26T14:30Z")]),
        **{
            name: [value]
            for name, value in {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.0, "volume": 10.0}.items()
        },
        **columns,
    }
    buffer = io.BytesIO()
    pq.write_table(pa.table(table), buffer)
    return buffer.getvalue()


MALFORMED = [
    ("missing column", "timestamp,open,low,close,volume\n2024-11-26T14:30Z,1,0.5,1,10\n", None, "high"),
    ("unparseable timestamp", HEADER + "2024-11-26T14:30Z,1,2,0.5,1,10\nnot-a-time,1,2,0.5,1,10\n", 2, "timestamp"),
    ("naive timestamp without tz", HEADER + "2024-11-26 14:30:00,1,2,0.5,1,10\n", None, "timestamp"),
    ("high below low", HEADER + "2024-11-26T14:30Z,1,2,0.5,1,10\n2024-11-26T14:31Z,1,0.4,0.5,1,10\n", 2, "high"),
    ("negative volume", HEADER + "2024-11-26T14:30Z,1,2,0.5,1,-10\n", 1, "volume"),
    ("NaN price", HEADER + "2024-11-26T14:30Z,1,2,0.5,NaN,10\n", 1, "close"),
    ("infinite price", HEADER + "2024-11-26T14:30Z,1,inf,0.5,1,10\n", 1, "high"),
    ("conflicting duplicates", HEADER + "2024-11-26T14:30Z,1,2,0.5,1,10\n2024-11-26T14:30Z,1,2,0.5,1.5,10\n", 2, "ts"),
    ("fractional trade count", HEADER.strip() + ",trade_count\n2024-11-26T14:30Z,1,2,0.5,1,10,7.5\n", 1, "trade_count"),
    ("empty file", "", None, "file"),
    ("header only", HEADER, None, "file"),
    # Times the calendars cannot schedule; epochs past the nanosecond range.
    (
        "timestamp after 2200",
        HEADER + "2024-11-26T14:30Z,1,2,0.5,1,10\n2262-04-11T00:00Z,1,2,0.5,1,10\n",
        2,
        "timestamp",
    ),
    ("timestamp before 1900", HEADER + "1677-09-22T00:00Z,1,2,0.5,1,10\n", 1, "timestamp"),
    ("epoch seconds in 2262", HEADER + "2024-11-26T14:30Z,1,2,0.5,1,10\n9223372036,1,2,0.5,1,10\n", 2, "timestamp"),
    (
        "uint64 epoch past int64",
        parquet_bytes(timestamp=pa.array([2**64 - 1], pa.uint64())),
        1,
        "timestamp",
    ),
    (
        "parquet time past Python's datetime",
        parquet_bytes(timestamp=pa.array([2**62], pa.timestamp("ms"))),
        1,
        "timestamp",
    ),
    # Magnitudes whose sums overflow to inf downstream.
    ("price 1e308", HEADER + "2024-11-26T14:30Z,1,1e308,0.5,1,10\n", 1, "high"),
    ("volume 1e18", HEADER + "2024-11-26T14:30Z,1,2,0.5,1,1e18\n", 1, "volume"),
    ("vwap 1e300", HEADER.strip() + ",vwap\n2024-11-26T14:30Z,1,2,0.5,1,10,1e300\n", 1, "vwap"),
    ("uint64 volume past 1e18", parquet_bytes(volume=pa.array([2**64 - 1], pa.uint64())), 1, "volume"),
    ("uint64 trade count past 2^63", parquet_bytes(trade_count=pa.array([2**63], pa.uint64())), 1, "trade_count"),
    # Past the first 8 KiB, which decide whether a file is binary.
    (
        "NUL in a symbol",
        "symbol,"
        + HEADER
        + "ACME,2024-11-26T14:30Z,1,2,0.5,1,10\n" * 300
        + "AC\x00ME,2024-11-26T14:30Z,1,2,0.5,1,10\n",
        301,
        "symbol",
    ),
]


@pytest.mark.parametrize("case,content,row,field", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_upload_is_400_naming_row_and_field_and_writes_nothing(user_api, symbol, case, content, row, field):
    before_good = upload(user_api, GOOD_CSV).json()["rows_inserted"]
    response = upload(user_api, content)
    assert response.status_code == 400, case
    details = response.json()["error"]["details"]
    assert any(d["field"] == field and d.get("row") == row for d in details), details
    assert stored_count(symbol) == before_good == 3


NEEDS_NAME_OR_FIELDS = [
    # Localizing these wall times used to leave pandas' range before the range check.
    (
        "naive time past 2262",
        "datetime,open,high,low,close,volume\n2262-04-11 23:00:00,1,2,0.5,1,10\n",
        "bars.csv",
        {"tz": "America/New_York"},
        1,
        "timestamp",
    ),
    (
        "naive time before 1677",
        "datetime,open,high,low,close,volume\n2024-11-26 09:30:00,1,2,0.5,1,10\n1677-09-21 01:00:00,1,2,0.5,1,10\n",
        "bars.csv",
        {"tz": "Asia/Tokyo"},
        2,
        "timestamp",
    ),
    (
        "JSON value nested deeper than repr goes",
        '[{"t": "2024-11-26T14:30Z", "o": ' + "[" * 990 + "1" + "]" * 990 + ', "h": 2, "l": 0.5, "c": 1, "v": 10}]',
        "bars.json",
        {},
        1,
        "open",
    ),
]


@pytest.mark.parametrize(
    "case,content,name,fields,row,field", NEEDS_NAME_OR_FIELDS, ids=[m[0] for m in NEEDS_NAME_OR_FIELDS]
)
def test_odd_upload_is_400_naming_row_and_field_and_writes_nothing(
    user_api, symbol, case, content, name, fields, row, field
):
    response = upload(user_api, content, name=name, **fields)
    assert response.status_code == 400, case
    details = response.json()["error"]["details"]
    assert any(d["field"] == field and d.get("row") == row for d in details), details
    assert stored_count(symbol) == 0


BAR_LINES = ["2024-11-26T14:30:00Z,100,101,99.5,100.5,1200", "2024-11-26T14:31:00Z,100.5,101.2,100.1,101,900"]
READABLE = [
    ("CR line endings", ("\r".join([HEADER.strip(), *BAR_LINES]) + "\r").encode(), [1200.0, 900.0]),
    (
        "two byte order marks",
        b"\xef\xbb\xbf\xef\xbb\xbf" + (HEADER + "\n".join(BAR_LINES) + "\n").encode(),
        [1200.0, 900.0],
    ),
    (
        "two byte order marks and CR line endings",
        b"\xef\xbb\xbf\xef\xbb\xbf" + ("\r".join([HEADER.strip(), *BAR_LINES])).encode(),
        [1200.0, 900.0],
    ),
    (
        "integer volume past 2^53",
        (HEADER + BAR_LINES[0].replace(",1200", ",9007199254740993") + "\n").encode(),
        [9007199254740992.0],
    ),
    ("uint64 Parquet volume", parquet_bytes(volume=pa.array([2**55 + 1], pa.uint64())), [float(2**55)]),
]


@pytest.mark.parametrize("case,content,volumes", READABLE, ids=[m[0] for m in READABLE])
def test_unusual_but_valid_files_are_imported(user_api, symbol, case, content, volumes):
    response = upload(user_api, content)
    assert response.status_code == 202, response.json()
    assert response.json()["rows_inserted"] == len(volumes)
    assert store.bars_read(symbol_id=symbol.id, interval="1m")["volume"].tolist() == volumes


def test_integer_trade_count_past_2_53_is_kept_as_a_whole_number(user_api, symbol):
    text = HEADER.strip() + ",trade_count\n2024-11-26T14:30Z,1,2,0.5,1,10,9007199254740993\n"
    assert upload(user_api, text).status_code == 202
    assert store.bars_read(symbol_id=symbol.id, interval="1m")["trade_count"].tolist() == [9007199254740992]


@pytest.mark.parametrize("tz", ["A" * 300, "America", "zone1970.tab"], ids=["too long", "directory", "not a zone"])
def test_tz_that_is_not_a_zone_file_is_400_on_tz(user_api, symbol, tz):
    response = upload(user_api, GOOD_CSV, tz=tz)
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert [d["field"] for d in details] == ["tz"]
    assert "unknown time zone" in details[0]["message"]
    assert stored_count(symbol) == 0


def test_wrong_file_type_is_400_naming_file(user_api, symbol):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    response = upload(user_api, png, name="chart.png")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "file"
    assert stored_count(symbol) == 0


def test_unknown_symbol_is_400_and_writes_nothing(user_api, symbol):
    response = upload(user_api, GOOD_CSV, symbol="NOPE")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "symbol"
    text = (
        "symbol,ts,open,high,low,close,volume\nACME,2024-11-26T14:30Z,1,2,0.5,1,10\nZZZ,2024-11-26T14:30Z,5,6,4,5,20\n"
    )
    response = upload(user_api, text, symbol=None)
    assert response.status_code == 400
    assert {"row": 2, "field": "symbol", "message": "unknown symbol 'ZZZ'"} in response.json()["error"]["details"]
    assert stored_count(symbol) == 0


def test_one_bad_row_among_many_writes_nothing_and_lists_every_bad_row(user_api, symbol):
    good = [f"2024-11-26T{14 + m // 60}:{m % 60:02d}:00Z,1,2,0.5,1,10" for m in range(30, 330)]
    good[100] = good[100].replace(",1,2,", ",1,0.1,")
    good[200] = good[200].replace(",10", ",-1")
    response = upload(user_api, HEADER + "\n".join(good) + "\n")
    assert response.status_code == 400
    rows = sorted((d["row"], d["field"]) for d in response.json()["error"]["details"])
    assert (101, "high") in rows and (201, "volume") in rows
    assert stored_count(symbol) == 0


def test_import_needs_the_file_and_a_known_interval(user_api, symbol):
    response = user_api.post("/api/v1/imports", {"symbol": "ACME"}, format="multipart")
    assert response.json()["error"]["details"][0]["field"] == "file"
    response = upload(user_api, GOOD_CSV, interval="5q")
    assert response.json()["error"]["details"][0]["field"] == "interval"
    response = upload(user_api, GOOD_CSV, tz="Mars/Olympus")
    assert response.json()["error"]["details"][0]["field"] == "tz"


def test_users_see_only_their_own_imports(user_api, other_user, symbol):
    from rest_framework.test import APIClient

    mine = upload(user_api, GOOD_CSV).json()
    other = APIClient()
    other.force_authenticate(other_user)
    assert other.get(f"/api/v1/imports/{mine['id']}").status_code == 404
    assert other.get("/api/v1/imports").json()["results"] == []
    assert [i["id"] for i in user_api.get("/api/v1/imports").json()["results"]] == [mine["id"]]


def test_cli_import_bars_writes_rows_then_reports_duplicates(symbol, tmp_path, capsys):
    path = tmp_path / "bars.csv"
    path.write_text(GOOD_CSV)
    call_command("import_bars", str(path), "--symbol", "ACME")
    assert "3 added" in capsys.readouterr().out
    call_command("import_bars", str(path), "--symbol", "ACME")
    assert "0 added" in capsys.readouterr().out
    assert stored_count(symbol) == 3


def test_cli_import_bars_refuses_bad_rows_with_row_numbers(symbol, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "2024-11-26T14:30Z,1,0.1,0.5,1,10\n")
    with pytest.raises(CommandError, match=r"row 1: high"):
        call_command("import_bars", str(path), "--symbol", "ACME")
    assert stored_count(symbol) == 0


def test_cli_import_bars_refuses_a_tz_that_is_not_a_zone(symbol, tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text(GOOD_CSV)
    with pytest.raises(CommandError, match=r"row -: tz: unknown time zone"):
        call_command("import_bars", str(path), "--symbol", "ACME", "--tz", "A" * 300)
    assert stored_count(symbol) == 0


def test_cli_import_bars_reads_cr_line_endings(symbol, tmp_path, capsys):
    path = tmp_path / "bars.csv"
    path.write_bytes(GOOD_CSV.replace("\n", "\r").encode())
    call_command("import_bars", str(path), "--symbol", "ACME")
    assert "3 added" in capsys.readouterr().out
    assert stored_count(symbol) == 3
