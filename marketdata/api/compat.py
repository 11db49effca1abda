"""Routes of the crypto market-data service mdserver replaces.

`GET market-data/{exchange}/{symbol}/buffer/{timeframe}`: the last 100 candles.
`GET market-data/{exchange}/{symbol}/history?start&end&timeframe`: candles in a range.
`{symbol}` may drop the slash of the pair (`BTCUSDT`) or use a dash (`BTC-USDT`).
Candles are `[open_time_ms, open, high, low, close, volume]`, oldest first.
"""

from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.views import APIView

from marketdata import selectors
from marketdata.api.data import time_range
from marketdata.core.intervals import IntervalError, parse_interval
from marketdata.models import Symbol
from mdserver.api import MAX_LIMIT, ApplicationError

BUFFER_SIZE = 100


def _symbol(exchange: str, pair: str) -> Symbol:
    wanted = pair.replace("-", "").replace("/", "").replace("_", "").upper()
    candidates = [
        s for s in Symbol.objects.filter(venue__iexact=exchange) if s.ticker.replace("/", "").upper() == wanted
    ]
    if len(candidates) != 1:
        raise ApplicationError(
            f"unknown symbol {pair!r} at {exchange!r}",
            details=[{"field": "symbol", "message": f"unknown symbol {pair!r}"}],
        )
    return candidates[0]


def _interval(text: str):
    try:
        return parse_interval(text)
    except IntervalError as exc:
        raise ApplicationError(str(exc), details=[{"field": "timeframe", "message": str(exc)}]) from None


def _candles(frame) -> list[list]:
    millis = frame["ts"].astype("int64") // 1_000_000 if len(frame) else []
    columns = [frame[c].tolist() for c in ("open", "high", "low", "close", "volume")]
    return [[int(ms), *values] for ms, *values in zip(list(millis), *columns, strict=True)]


class MarketDataBufferApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, exchange: str, symbol: str, timeframe: str):
        found = _symbol(exchange, symbol)
        bars = selectors.bars_latest(symbol=found, interval=_interval(timeframe), count=BUFFER_SIZE, session="all")
        return JsonResponse(
            {"exchange": found.venue, "symbol": found.ticker, "timeframe": timeframe, "candles": _candles(bars)}
        )


class MarketDataHistoryApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("start", str),
            OpenApiParameter("end", str),
            OpenApiParameter("timeframe", str, description="default 1m"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, exchange: str, symbol: str):
        found = _symbol(exchange, symbol)
        timeframe = request.query_params.get("timeframe", "1m")
        start, end = time_range(request.query_params, found)
        page = selectors.bars_page(
            symbol=found, interval=_interval(timeframe), start=start, end=end, limit=MAX_LIMIT, session="all"
        )
        return JsonResponse(
            {"exchange": found.venue, "symbol": found.ticker, "timeframe": timeframe, "candles": _candles(page.bars)}
        )
