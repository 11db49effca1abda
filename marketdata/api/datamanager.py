"""Time, status, calendar and analytics endpoints (SPEC.md: Time, status and calendar; Analytics)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from marketdata import data_manager, selectors
from marketdata.api.data import IntervalField, SupportedDateField, parse_query, time_range
from marketdata.api.output import BAR_FIELDS
from marketdata.core.calendar import get_calendar
from marketdata.core.intervals import parse_interval
from marketdata.core.times import TimeParamError, parse_time_param
from mdserver.api import MAX_LIMIT, ApplicationError, jsonable


class MarketQuery(serializers.Serializer):
    market = serializers.CharField(default="XNYS")


class ClockQuery(MarketQuery):
    session_id = serializers.CharField(required=False)


class SessionsQuery(MarketQuery):
    start = SupportedDateField()
    end = SupportedDateField()

    def validate(self, data):
        if data["end"] < data["start"]:
            raise serializers.ValidationError({"end": "must not be before start"})
        if (data["end"] - data["start"]).days > 3660:
            raise serializers.ValidationError({"end": "at most 10 years per request"})
        return data


class HolidaysQuery(MarketQuery):
    year = serializers.IntegerField(min_value=1900, max_value=2200)


class DayQuery(MarketQuery):
    date = SupportedDateField()


MARKET = OpenApiParameter("market", str, description="calendar name, e.g. XNYS (default), CME_Globex_Metals, 24/7")


class ClockApi(APIView):
    """Now, market status and the current/next session; with `session_id`, a replay's simulated clock."""

    @extend_schema(parameters=[MARKET, OpenApiParameter("session_id", str)], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        params = parse_query(ClockQuery, request)
        clock = data_manager.clock_for(session_id=params.get("session_id"), user=request.user)
        return Response(jsonable(data_manager.clock_status(market=params["market"], clock=clock)))


class CalendarSessionsApi(APIView):
    @extend_schema(
        parameters=[MARKET, OpenApiParameter("start", OpenApiTypes.DATE, required=True),
                    OpenApiParameter("end", OpenApiTypes.DATE, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )  # fmt: skip
    def get(self, request):
        params = parse_query(SessionsQuery, request)
        return Response(jsonable(data_manager.calendar_sessions(**params)))


class CalendarHolidaysApi(APIView):
    @extend_schema(
        parameters=[MARKET, OpenApiParameter("year", int, required=True)], responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request):
        params = parse_query(HolidaysQuery, request)
        return Response(jsonable(data_manager.calendar_holidays(**params)))


class CalendarDayApi(APIView):
    @extend_schema(
        parameters=[MARKET, OpenApiParameter("date", OpenApiTypes.DATE, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        params = parse_query(DayQuery, request)
        return Response(jsonable(data_manager.calendar_day(**params)))


class AnalyticsQuery(serializers.Serializer):
    symbol = serializers.CharField()
    venue = serializers.CharField(required=False)
    at = serializers.CharField(required=False)
    session_id = serializers.CharField(required=False)
    days = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
    years = serializers.IntegerField(required=False, min_value=1, max_value=100)
    time = serializers.TimeField(required=False, input_formats=["%H:%M", "%H:%M:%S"])


ANALYTICS_PARAMETERS = [
    OpenApiParameter("symbol", str, required=True),
    OpenApiParameter("venue", str),
    OpenApiParameter("at", str, description="point in time (default: the clock's now); only data known then is used"),
    OpenApiParameter("session_id", str, description="answer in this replay's simulated time"),
]


def analytics_context(request) -> tuple[dict, Any, pd.Timestamp]:
    params = parse_query(AnalyticsQuery, request)
    symbol = selectors.symbol_resolve(ticker=params["symbol"], venue=params.get("venue"))
    if params.get("at"):
        try:
            at = parse_time_param(params["at"], get_calendar(symbol.calendar).tz)
        except TimeParamError as exc:
            raise ApplicationError(f"at: {exc}", details=[{"field": "at", "message": str(exc)}]) from None
    else:
        at = data_manager.clock_for(session_id=params.get("session_id"), user=request.user).now()
    return params, symbol, at


def _with_context(result: dict, symbol, at: pd.Timestamp) -> dict:
    return jsonable({"symbol": symbol.ticker, "venue": symbol.venue, "at": at, **result})


class AnalyticsApi(APIView):
    """Point-in-time statistics of the Data Manager: nothing known after `at` is used."""

    def _answer(self, request, compute):
        params, symbol, at = analytics_context(request)
        return Response(_with_context(compute(params, symbol, at), symbol, at))


def _required(params: dict, name: str):
    if params.get(name) is None:
        raise ApplicationError(f"{name} is required", details=[{"field": name, "message": "required"}])
    return params[name]


class AverageVolumeApi(AnalyticsApi):
    """Mean regular-session volume over the last `days` full sessions before `at`'s session."""

    @extend_schema(parameters=[*ANALYTICS_PARAMETERS, OpenApiParameter("days", int, required=True)],
                   responses={200: OpenApiTypes.OBJECT})  # fmt: skip
    def get(self, request):
        return self._answer(
            request, lambda p, s, at: data_manager.average_volume(symbol=s, at=at, days=_required(p, "days"))
        )


class SessionVolumeApi(AnalyticsApi):
    """Cumulative volume of the current session up to `at`."""

    @extend_schema(parameters=ANALYTICS_PARAMETERS, responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return self._answer(request, lambda p, s, at: data_manager.session_volume(symbol=s, at=at))


class AverageVolumeAtTimeApi(AnalyticsApi):
    """Mean cumulative volume from the open to `time` (market-local HH:MM) over the last `days` full sessions."""

    @extend_schema(
        parameters=[*ANALYTICS_PARAMETERS, OpenApiParameter("time", str, required=True),
                    OpenApiParameter("days", int, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )  # fmt: skip
    def get(self, request):
        return self._answer(
            request,
            lambda p, s, at: data_manager.average_volume_at_time(
                symbol=s, at=at, time_of_day=_required(p, "time"), days=_required(p, "days")
            ),
        )


class HighLowApi(AnalyticsApi):
    """Highest high and lowest low (with their bar times) over the last `days` sessions or `years` years."""

    @extend_schema(
        parameters=[*ANALYTICS_PARAMETERS, OpenApiParameter("days", int), OpenApiParameter("years", int)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        return self._answer(
            request, lambda p, s, at: data_manager.high_low(symbol=s, at=at, days=p.get("days"), years=p.get("years"))
        )


class SessionHighLowApi(AnalyticsApi):
    """The current session's high and low so far."""

    @extend_schema(parameters=ANALYTICS_PARAMETERS, responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return self._answer(request, lambda p, s, at: data_manager.session_high_low(symbol=s, at=at))


class IndicatorsQuery(serializers.Serializer):
    symbol = serializers.CharField()
    venue = serializers.CharField(required=False)
    interval = IntervalField(required=False, default=parse_interval("1m"))
    start = serializers.CharField(required=False)
    end = serializers.CharField(required=False)
    names = serializers.CharField()
    session = serializers.ChoiceField(choices=["regular", "all"], required=False, default="regular")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=MAX_LIMIT)


class IndicatorsApi(APIView):
    """Indicator series (`names=sma:20,rsi:14,macd:12:26:9,bbands:20:2,atr:14,vwap`) over bars of any interval."""

    @extend_schema(
        parameters=[OpenApiParameter("symbol", str, required=True), OpenApiParameter("interval", str),
                    OpenApiParameter("start", str), OpenApiParameter("end", str),
                    OpenApiParameter("names", str, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )  # fmt: skip
    def get(self, request):
        params = parse_query(IndicatorsQuery, request)
        symbol = selectors.symbol_resolve(ticker=params["symbol"], venue=params.get("venue"))
        start, end = time_range(params, symbol)
        page = selectors.bars_page(symbol=symbol, interval=params["interval"], start=start, end=end,
                                   limit=params["limit"], session=params["session"])  # fmt: skip
        values = data_manager.indicators(bars=page.bars, symbol=symbol, names=params["names"])
        series = {name: values[name].tolist() for name in values.columns if name != "ts"}
        return Response(
            jsonable(
                {
                    "symbol": symbol.ticker,
                    "venue": symbol.venue,
                    "interval": str(params["interval"]),
                    "t": values["ts"].tolist(),
                    "series": series,
                    "bars": page.bars.rename(columns=BAR_FIELDS).to_dict("list"),
                }
            )  # fmt: skip
        )


class CoverageQuery(serializers.Serializer):
    interval = IntervalField(default=parse_interval("1m"))
    start = SupportedDateField(required=False)
    end = SupportedDateField(required=False)


class CoverageMixin:
    @extend_schema(
        parameters=[OpenApiParameter("interval", str), OpenApiParameter("start", OpenApiTypes.DATE),
                    OpenApiParameter("end", OpenApiTypes.DATE)],
        responses={200: OpenApiTypes.OBJECT},
    )  # fmt: skip
    @action(detail=True, methods=["get"])
    def coverage(self, request, pk=None):
        """Per trading day: expected and present base bars, bar_quality and the gaps."""
        symbol = self.get_object()
        params = parse_query(CoverageQuery, request)
        today = pd.Timestamp.now(tz="UTC").date()
        end = params.get("end") or today
        start = params.get("start") or end - dt.timedelta(days=30)
        if end < start or (end - start).days > 3660:
            raise ApplicationError(
                "end must be after start, at most 10 years", details=[{"field": "end", "message": "bad range"}]
            )
        days = data_manager.coverage(symbol=symbol, interval=str(params["interval"]), start=start, end=end)
        return Response(jsonable(days))
