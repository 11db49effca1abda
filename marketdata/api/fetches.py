"""Provider fetches over the API: estimate first, then a job per symbol and exchange."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.ownership import owned_by
from marketdata import selectors
from marketdata.api.data import time_range
from marketdata.core.intervals import IntervalError, parse_interval
from marketdata.providers.base import source_names
from marketdata.services.fetches import TICK_SCHEMAS, FetchSpec, fetch_batch_refresh, fetch_create, fetch_estimate
from mdserver.api import ApplicationError
from mdserver.models import Job
from mdserver.serializers import JobSerializer


class ListOrCommaField(serializers.ListField):
    """A list, or one string with comma-separated items."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = [item.strip() for item in data.split(",") if item.strip()]
        return super().to_internal_value(data)


class FetchInput(serializers.Serializer):
    source = serializers.CharField()
    symbols = ListOrCommaField(child=serializers.CharField(), allow_empty=False)
    venue = serializers.CharField(required=False)
    interval = serializers.CharField(required=False)
    schema = serializers.CharField(required=False)
    start = serializers.CharField()
    end = serializers.CharField()
    dataset = serializers.CharField(required=False, default="")
    stype_in = serializers.ChoiceField(choices=["raw_symbol", "parent", "continuous", "instrument_id"], required=False,
                                       help_text="Databento symbology of the tickers (default raw_symbol)")  # fmt: skip
    exchange = ListOrCommaField(child=serializers.CharField(), required=False, default=list)

    def validate_source(self, value: str) -> str:
        if value not in source_names():
            raise serializers.ValidationError(f"unknown source; one of {', '.join(source_names())}")
        return value

    def validate(self, data: dict) -> dict:
        if bool(data.get("interval")) == bool(data.get("schema")):
            raise serializers.ValidationError({"interval": "give either interval (bars) or schema"})
        if data.get("interval"):
            try:
                parse_interval(data["interval"])
            except IntervalError as exc:
                raise serializers.ValidationError({"interval": str(exc)}) from None
        schema = data.get("schema")
        if schema and schema not in TICK_SCHEMAS and not schema.startswith("ohlcv-"):
            raise serializers.ValidationError({"schema": "use ohlcv-<interval>, trades, tbbo, mbp-1 or quotes"})
        if schema and schema.startswith("ohlcv-"):
            try:
                parse_interval(schema.removeprefix("ohlcv-"))
            except IntervalError as exc:
                raise serializers.ValidationError({"schema": f"ohlcv-<interval>: {exc}"}) from None
        if data["source"] == "databento" and not data.get("dataset"):
            raise serializers.ValidationError({"dataset": "Databento needs a dataset such as XNAS.ITCH or GLBX.MDP3"})
        if data["source"] == "ccxt" and not data.get("exchange") and not data.get("venue"):
            raise serializers.ValidationError({"exchange": "ccxt needs an exchange: binance, bybit or okx"})
        return data


def specs_from(data: dict) -> list[FetchSpec]:
    """Resolve symbols and times into one spec per symbol and exchange."""
    specs = []
    exchanges = [e.lower() for e in data["exchange"]] or [""]
    for ticker in data["symbols"]:
        symbol = selectors.symbol_resolve(ticker=ticker, venue=data.get("venue"))
        start, end = time_range(data, symbol)
        if start is None or end is None:
            raise ApplicationError("start and end are required", details=[{"field": "start", "message": "required"}])
        for exchange in exchanges:
            if data["source"] == "ccxt" and not exchange:
                exchange = symbol.venue.lower()
            specs.append(
                FetchSpec(
                    source=data["source"],
                    symbol_id=symbol.id,
                    schema=data.get("interval") or data["schema"],
                    start=start,
                    end=end,
                    dataset=data.get("dataset", ""),
                    exchange=exchange,
                    stype_in=data.get("stype_in", ""),
                )  # fmt: skip
            )
    return specs


class FetchViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Fetch history from a provider into the store; only the ranges not yet cached are downloaded."""

    serializer_class = JobSerializer
    ordering = "-created_at"

    def get_queryset(self):
        return owned_by(Job.objects.filter(kind="marketdata.fetch"), self.request.user)

    def _shape(self, parent: Job) -> dict:
        parent = fetch_batch_refresh(parent=parent)
        body = JobSerializer(parent).data
        body.update(parent.result)
        body["children"] = [
            {"id": str(c.id), "symbol_id": c.params.get("symbol_id"), "exchange": c.params.get("exchange"),
             "status": c.status, "progress": c.progress, "message": c.message, "errors": c.errors, **c.result}
            for c in parent.children.order_by("created_at")
        ]  # fmt: skip
        return body

    @extend_schema(request=FetchInput, responses={202: OpenApiTypes.OBJECT})
    def create(self, request):
        data = FetchInput(data=request.data)
        data.is_valid(raise_exception=True)
        parent = fetch_create(owner=request.user, specs=specs_from(data.validated_data))
        return Response(self._shape(parent), status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, *args, **kwargs):
        return Response(self._shape(self.get_object()))

    @extend_schema(request=FetchInput, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def estimate(self, request):
        data = FetchInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(fetch_estimate(specs=specs_from(data.validated_data)))
