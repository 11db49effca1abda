import io
import json

import pandas as pd
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
]


@pytest.mark.parametrize("case,content,row,field", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_upload_is_400_naming_row_and_field_and_writes_nothing(user_api, symbol, case, content, row, field):
    before_good = upload(user_api, GOOD_CSV).json()["rows_inserted"]
    response = upload(user_api, content)
    assert response.status_code == 400, case
    details = response.json()["error"]["details"]
    assert any(d["field"] == field and d.get("row") == row for d in details), details
    assert stored_count(symbol) == before_good == 3


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
