"""Bar, trade and quote endpoints (SPEC.md: Bar, trade and quote data)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from marketdata import selectors
from marketdata.api.output import (
    BAR_FIELDS,
    FORMATS,
    QUOTE_FIELDS,
    TRADE_FIELDS,
    decode_cursor,
    encode_cursor,
    next_url,
    respond,
)
from marketdata.core.intervals import IntervalError, parse_interval
from marketdata.core.times import EARLIEST_TIME, LATEST_TIME, SUPPORTED_TIMES, TimeParamError, parse_time_param
from mdserver.api import DEFAULT_LIMIT, MAX_LIMIT, ApplicationError


class IntervalField(serializers.CharField):
    """An interval such as 1m, 7m, 4h or 1d, parsed into an `Interval`."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return parse_interval(text)
        except IntervalError as exc:
            raise serializers.ValidationError(str(exc)) from None


class SupportedDateField(serializers.DateField):
    """A date inside the years the calendars and the store handle (see `marketdata.core.times`)."""

    def to_internal_value(self, value):
        date = super().to_internal_value(value)
        if not EARLIEST_TIME.year <= date.year < LATEST_TIME.year:
            raise serializers.ValidationError(f"out of range: dates go {SUPPORTED_TIMES}")
        return date


class RangeQuery(serializers.Serializer):
    symbol = serializers.CharField()
    venue = serializers.CharField(required=False)
    start = serializers.CharField(required=False)
    end = serializers.CharField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    cursor = serializers.CharField(required=False)
    format = serializers.ChoiceField(choices=FORMATS, required=False, default="json")


class BarsQuery(RangeQuery):
    interval = IntervalField(required=False, default=parse_interval("1m"))
    label = serializers.ChoiceField(choices=["left", "right"], required=False, default="left")
    session = serializers.ChoiceField(choices=["regular", "all"], required=False, default="regular")


class LatestQuery(serializers.Serializer):
    symbol = serializers.CharField()
    venue = serializers.CharField(required=False)
    interval = IntervalField(required=False, default=parse_interval("1m"))
    count = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=100)
    end = serializers.CharField(required=False, help_text="only bars opening before this time (scrolling back)")
    session = serializers.ChoiceField(choices=["regular", "all"], required=False, default="regular")
    format = serializers.ChoiceField(choices=FORMATS, required=False, default="json")


def parse_query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def time_range(params: dict, symbol) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Read start/end in the symbol's market time zone (SPEC.md time conventions)."""
    try:
        tz = ZoneInfo(str(selectors.get_calendar(symbol.calendar).tz))
    except ZoneInfoNotFoundError:
        tz = ZoneInfo("UTC")
    bounds = []
    for name in ("start", "end"):
        value = params.get(name)
        try:
            bounds.append(parse_time_param(value, tz, is_end=name == "end") if value else None)
        except TimeParamError as exc:
            raise ApplicationError(f"{name}: {exc}", details=[{"field": name, "message": str(exc)}]) from None
    start, end = bounds
    if start is not None and end is not None and end <= start:
        raise ApplicationError("end must be after start", details=[{"field": "end", "message": "must be after start"}])
    return start, end


def paged_start(params: dict, start: pd.Timestamp | None) -> tuple[pd.Timestamp | None, int]:
    if not params.get("cursor"):
        return start, 0
    return decode_cursor(params["cursor"])


BAR_PARAMETERS = [
    OpenApiParameter("symbol", str, required=True),
    OpenApiParameter("venue", str),
    OpenApiParameter("interval", str, description="<N>s|m|h|d, default 1m"),
    OpenApiParameter("start", str, description="ISO-8601; a date alone is that trading date in the market"),
    OpenApiParameter("end", str, description="exclusive; a date alone includes that date"),
    OpenApiParameter("limit", int),
    OpenApiParameter("cursor", str),
    OpenApiParameter("label", str, enum=["left", "right"]),
    OpenApiParameter("session", str, enum=["regular", "all"]),
    OpenApiParameter("format", str, enum=list(FORMATS)),
]


class BarsApi(APIView):
    """Bars of any interval, derived on request from the stored base bars."""

    @extend_schema(parameters=BAR_PARAMETERS, responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        params = parse_query(BarsQuery, request)
        symbol = selectors.symbol_resolve(ticker=params["symbol"], venue=params.get("venue"))
        start, end = time_range(params, symbol)
        start, _ = paged_start(params, start)
        page = selectors.bars_page(
            symbol=symbol,
            interval=params["interval"],
            start=start,
            end=end,
            limit=params["limit"],
            label=params["label"],
            session=params["session"],
        )
        link = next_url(request, encode_cursor(page.next_start) if page.next_start is not None else None)
        envelope = {
            "symbol": symbol.ticker,
            "venue": symbol.venue,
            "interval": str(params["interval"]),
            "label": params["label"],
        }
        return respond(
            request, page.table, fields=BAR_FIELDS, key="bars", envelope=envelope, next_link=link,
            output=params["format"], filename=f"{symbol.ticker}-{params['interval']}".replace("/", ""),
        )  # fmt: skip


class BarsLatestApi(APIView):
    """The newest `count` bars (default 100): the live buffer."""

    @extend_schema(
        parameters=[
            OpenApiParameter("symbol", str, required=True),
            OpenApiParameter("venue", str),
            OpenApiParameter("interval", str),
            OpenApiParameter("count", int),
            OpenApiParameter("end", str, description="only bars opening before this time (scrolling back)"),
            OpenApiParameter("session", str, enum=["regular", "all"]),
            OpenApiParameter("format", str, enum=list(FORMATS)),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        params = parse_query(LatestQuery, request)
        symbol = selectors.symbol_resolve(ticker=params["symbol"], venue=params.get("venue"))
        _, end = time_range(params, symbol)
        bars = selectors.bars_latest(
            symbol=symbol, interval=params["interval"], count=params["count"], session=params["session"], end=end
        )
        envelope = {
            "symbol": symbol.ticker,
            "venue": symbol.venue,
            "interval": str(params["interval"]),
            "label": "left",
        }
        return respond(
            request, bars, fields=BAR_FIELDS, key="bars", envelope=envelope, next_link=None,
            output=params["format"], filename=f"{symbol.ticker}-latest".replace("/", ""),
        )  # fmt: skip


class TicksApi(APIView):
    kind = "trades"
    fields = TRADE_FIELDS

    @extend_schema(
        parameters=BAR_PARAMETERS[:2] + BAR_PARAMETERS[3:7] + BAR_PARAMETERS[9:], responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request):
        params = parse_query(RangeQuery, request)
        symbol = selectors.symbol_resolve(ticker=params["symbol"], venue=params.get("venue"))
        start, end = time_range(params, symbol)
        start, skip = paged_start(params, start)
        page = selectors.ticks_page(
            kind=self.kind, symbol=symbol, start=start, end=end, limit=params["limit"], skip=skip
        )
        cursor = encode_cursor(page.next_start, page.next_skip) if page.next_start is not None else None
        return respond(
            request, page.rows, fields=self.fields, key=self.kind, envelope={"symbol": symbol.ticker, "venue": symbol.venue},
            next_link=next_url(request, cursor), output=params["format"],
            filename=f"{symbol.ticker}-{self.kind}".replace("/", ""),
        )  # fmt: skip


class TradesApi(TicksApi):
    """Trades `{t, price, size, side}`, oldest first."""

    kind = "trades"
    fields = TRADE_FIELDS


class QuotesApi(TicksApi):
    """Top-of-book quotes `{t, bid, bid_size, ask, ask_size}`, oldest first."""

    kind = "quotes"
    fields = QUOTE_FIELDS
