"""`GET /api/v1/bars` for one symbol-year of 1-minute bars against a local read_parquet.

The request goes through Django's full stack (URL routing, token auth, the store's
binary COPY read, the response encoder) in-process, with no network. The baseline
is `pandas.read_parquet` of the same rows from a local file, in the same run.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pandas as pd

from bench.support import bench_database, best_of, symbol_year_bars

NEEDS_DJANGO = True


def run() -> list[dict]:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from marketdata import store
    from marketdata.models import Symbol

    frame = symbol_year_bars("BENCHAPI")
    with bench_database(), tempfile.TemporaryDirectory() as folder:
        symbol = Symbol.objects.create(ticker="BENCHAPI", venue="XNYS", calendar="XNYS")
        store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
        user = get_user_model().objects.create_user("bench", password="bench-password-1")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        local = Path(folder) / "bars.parquet"
        frame.to_parquet(local, index=False)

        def fetch(fmt: str) -> bytes:
            response = client.get(f"/api/v1/bars?symbol=BENCHAPI&interval=1m&limit=100000&format={fmt}")
            assert response.status_code == 200
            return response.content

        assert len(pd.read_parquet(io.BytesIO(fetch("parquet")))) == len(frame)
        local_s = best_of(lambda: pd.read_parquet(local), repeat=15)
        parquet_s = best_of(lambda: fetch("parquet"), repeat=15)
        json_s = best_of(lambda: fetch("json"), repeat=15)

    def result(name: str, seconds: float, goal: str) -> dict:
        return {
            "name": name,
            "value": round(seconds * 1000, 2),
            "unit": "ms",
            "baseline": f"pandas.read_parquet of the same {len(frame):,} rows",
            "baseline_value": round(local_s * 1000, 2),
            "ratio": round(seconds / local_s, 2),
            "goal": goal,
        }

    return [result("bars_api_parquet_ms", parquet_s, "<= 3x"), result("bars_api_json_ms", json_s, "<= 10x")]
