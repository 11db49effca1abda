"""Analytics reports (SPEC.md: Analytics): `POST analytics/report` and `POST analytics/report/batch`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketdata import selectors
from marketdata.api.data import IntervalField, time_range
from marketdata.core.indicators import MAX_LENGTH
from marketdata.core.intervals import parse_interval
from marketdata.core.report import DEFAULT_INDICATORS
from marketdata.services import report as report_services
from mdserver.api import ApplicationError, exception_handler, jsonable
from mdserver.parsers import JSONBodyParser

MAX_BATCH_REPORTS = 50
DEFAULT_UPLOAD_CALENDAR = "XNYS"
KNOBS = ("cross_fast", "cross_slow", "breakout_bars", "gap_min", "trend_min_t", "trend_min_r2", "atr_length",
         "drawdowns_top", "max_events", "volume_days")  # fmt: skip


class ReportInput(serializers.Serializer):
    file = serializers.FileField(
        required=False, help_text="bars as CSV, JSON or Parquet, read as POST imports reads them"
    )
    bars = serializers.ListField(
        child=serializers.JSONField(), required=False, allow_empty=False,
        help_text="bars inline: an array of bar objects, read as a JSON upload",
    )  # fmt: skip
    symbol = serializers.CharField(
        required=False, help_text="stored bars of this symbol; with file/bars: the rows of this symbol"
    )
    venue = serializers.CharField(required=False)
    interval = IntervalField(required=False, help_text="default 1m for stored bars; inferred for uploaded bars")
    start = serializers.CharField(required=False)
    end = serializers.CharField(required=False, help_text="exclusive; only bars known by then are used")
    session = serializers.ChoiceField(choices=["regular", "all"], required=False, default="regular")
    tz = serializers.CharField(required=False, help_text="file/bars only: IANA zone for naive timestamps")
    calendar = serializers.CharField(required=False, help_text="file/bars only: market calendar, default XNYS")
    indicators = serializers.CharField(required=False, help_text=f"default {DEFAULT_INDICATORS}")
    cross_fast = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LENGTH, default=50)
    cross_slow = serializers.IntegerField(required=False, min_value=2, max_value=MAX_LENGTH, default=200)
    breakout_bars = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LENGTH, default=20)
    gap_min = serializers.FloatField(required=False, min_value=0, max_value=1, default=0.0)
    trend_min_t = serializers.FloatField(required=False, min_value=0, max_value=1000, default=2.0)
    trend_min_r2 = serializers.FloatField(required=False, min_value=0, max_value=1, default=0.5)
    atr_length = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LENGTH, default=14)
    drawdowns_top = serializers.IntegerField(required=False, min_value=1, max_value=100, default=5)
    max_events = serializers.IntegerField(required=False, min_value=0, max_value=1000, default=20)
    volume_days = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=20)

    def validate(self, data: dict) -> dict:
        if "file" in data and "bars" in data:
            raise serializers.ValidationError({"bars": "give file or bars, not both"})
        if "file" not in data and "bars" not in data:
            if not data.get("symbol"):
                raise serializers.ValidationError({"symbol": "give symbol (stored bars), file or bars"})
            for name in ("tz", "calendar"):
                if name in data:
                    message = "only with file or bars: stored bars use the symbol's calendar"
                    raise serializers.ValidationError({name: message})
        return data


class ReportBatchInput(serializers.Serializer):
    reports = serializers.ListField(
        child=serializers.JSONField(), allow_empty=False, max_length=MAX_BATCH_REPORTS,
        help_text=f"up to {MAX_BATCH_REPORTS} report requests, each with the fields of POST analytics/report",
    )  # fmt: skip


@dataclass(frozen=True)
class _Market:
    """What `time_range` needs of a symbol for uploaded bars: the calendar that reads naive times."""

    calendar: str


def _upload(params: dict) -> report_services.ReportUpload | None:
    if "file" in params:
        upload = params["file"]
        data, filename = upload.read(), upload.name or ""
    elif "bars" in params:
        data, filename = json.dumps(params["bars"]).encode(), "bars.json"
    else:
        return None
    return report_services.ReportUpload(data=data, filename=filename, tz=params.get("tz"), symbol=params.get("symbol"))


def report_answer(data: Mapping[str, Any], *, owner: Any) -> dict[str, Any]:
    """Validate one report request and answer it (from the cache when possible) as JSON values."""
    serializer = ReportInput(data=data)
    serializer.is_valid(raise_exception=True)
    params = serializer.validated_data
    knobs = report_services.report_params(indicators=params.get("indicators"), **{name: params[name] for name in KNOBS})
    upload = _upload(params)
    if upload is None:
        symbol = selectors.symbol_resolve(ticker=params["symbol"], venue=params.get("venue"))
        start, end = time_range(params, symbol)
        bars = report_services.report_bars_read(
            symbol=symbol, interval=params.get("interval") or parse_interval("1m"), start=start, end=end,
            session=params["session"],
        )  # fmt: skip
    else:
        calendar = report_services.calendar_checked(name=params.get("calendar") or DEFAULT_UPLOAD_CALENDAR)
        start, end = time_range(params, _Market(calendar))
        bars = report_services.report_bars_parse(
            upload=upload, interval=params.get("interval"), calendar=calendar, start=start, end=end
        )
    return jsonable(report_services.report_get_or_create(bars=bars, params=knobs, owner=owner))


def _batch_item(index: int, item: Any, owner: Any) -> dict[str, Any]:
    """Answer one batch item; a bad item becomes its own error body with its HTTP status."""
    if not isinstance(item, dict):
        field = f"reports[{index}]"
        error = ApplicationError(f"{field}: each report is an object",
                                 details=[{"field": field, "message": "expected an object"}])  # fmt: skip
        return {"status": error.status_code, **error.as_body()}
    try:
        return {"status": 200, **report_answer(item, owner=owner)}
    except (ApplicationError, APIException) as exc:
        response = exception_handler(exc, {})
        return {"status": response.status_code, **response.data}


REPORT_EXAMPLE = OpenApiExample(
    "stored bars",
    value={
        "symbol": "ACME",
        "interval": "5m",
        "start": "2024-11-25",
        "end": "2024-11-29",
        "indicators": "sma:20,rsi:14,bbands:20:2",
    },  # fmt: skip
    request_only=True,
)


class ReportApi(APIView):
    """An objective summary of bars: returns, trend, volatility, drawdowns, indicator readings, patterns.

    The bars are a stored range (`symbol`, `interval`, `start`, `end`) or sent with
    the request (`file` upload or inline `bars`). Results are cached by the hash of
    the bars and the parameters; `cached` says whether this answer came from there.
    """

    @extend_schema(
        request={"application/json": ReportInput, "multipart/form-data": ReportInput},
        responses={200: OpenApiTypes.OBJECT},
        examples=[REPORT_EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        return Response(report_answer(request.data, owner=request.user))


class ReportBatchApi(APIView):
    """Run up to 50 reports at once; results come in request order, a bad item answers with its own error."""

    parser_classes = [JSONBodyParser]

    @extend_schema(request=ReportBatchInput, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        batch = ReportBatchInput(data=request.data)
        batch.is_valid(raise_exception=True)
        items = batch.validated_data["reports"]
        return Response({"results": [_batch_item(index, item, request.user) for index, item in enumerate(items)]})
