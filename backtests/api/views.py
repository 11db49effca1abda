"""Backtests over REST: strategies, presets, saved settings (owner-only), runs and sweeps."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.ownership import OwnedQuerysetMixin, owned_by
from backtests import engine, presets, selectors, services
from backtests.models import BacktestRun, BacktestSettings
from marketdata import selectors as market_selectors
from marketdata.services.demo import utc_today
from mdserver.api import ApplicationError
from mdserver.models import Job


class StrategiesApi(APIView):
    """Strategies with their parameter schemas, and the settings schema."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"strategies": engine.strategy_schemas(), "settings": engine.SETTINGS_SCHEMA})


class PresetsApi(APIView):
    """Scenario presets: windows, symbols and default strategies that prefill the form."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(presets.presets(utc_today()))


class BacktestSettingsSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(help_text="ticker (add venue when the ticker trades at several)")
    venue = serializers.CharField(required=False, write_only=True)

    class Meta:
        model = BacktestSettings
        fields = [
            "id", "name", "data_source", "symbol", "venue", "interval", "start_date", "end_date", "initial_cash",
            "start_price", "units", "loan_amount", "margin_call_ltv", "fee", "slippage", "strategy", "params",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]

    def to_representation(self, instance: BacktestSettings) -> dict:
        body = super().to_representation(instance)
        body["symbol"] = instance.symbol.ticker
        body["venue"] = instance.symbol.venue
        return body

    def validate(self, data: dict) -> dict:
        merged = {**self._current(), **data}
        venue = merged.pop("venue", None)
        symbol = merged["symbol"]
        if not hasattr(symbol, "pk"):
            symbol = market_selectors.symbol_resolve(ticker=str(symbol), venue=venue)
        checked = services.backtest_settings_check(data={**merged, "symbol": symbol})
        data["symbol"] = symbol
        data["params"] = checked["params"]
        data.pop("venue", None)
        return data

    def _current(self) -> dict:
        if self.instance is None:
            defaults = {f.name: f.get_default() for f in BacktestSettings._meta.fields if f.has_default()}
            return {k: v for k, v in defaults.items() if k not in ("id", "owner")}
        return {name: getattr(self.instance, name) for name in [*services.SETTINGS_FIELDS, "symbol"]}


class BacktestSettingsViewSet(OwnedQuerysetMixin, viewsets.ModelViewSet):
    """Saved backtest settings: each user sees and changes only their own (others get 404)."""

    queryset = BacktestSettings.objects.select_related("symbol")
    serializer_class = BacktestSettingsSerializer
    ordering = "-updated_at"


class RunInput(serializers.Serializer):
    settings_id = serializers.IntegerField(required=False)
    settings = BacktestSettingsSerializer(required=False)
    engine = serializers.ChoiceField(choices=services.ENGINES, default="vectorized")

    def validate(self, data: dict) -> dict:
        if ("settings_id" in data) == ("settings" in data):
            raise serializers.ValidationError({"settings_id": "give settings_id or settings"})
        return data


class SweepInput(RunInput):
    grid = serializers.DictField(child=serializers.ListField(allow_empty=False), allow_empty=False)


def resolve_settings(request, data: dict) -> BacktestSettings:
    if "settings_id" in data:
        found = owned_by(BacktestSettings.objects.all(), request.user).filter(id=data["settings_id"]).first()
        if found is None:
            raise ApplicationError("no such settings", code="not_found",
                                   details=[{"field": "settings_id", "message": "not found"}], status_code=404)  # fmt: skip
        return found
    values = dict(data["settings"])
    return BacktestSettings(owner=request.user, **values)  # unsaved: a one-off run keeps only its snapshot


def run_body(run: BacktestRun, *, full: bool = True) -> dict:
    job = run.job
    body = {
        "id": run.id, "status": job.status, "progress": job.progress, "message": job.message, "errors": job.errors,
        "engine": run.engine, "engine_version": run.engine_version, "settings_id": run.settings_id,
        "settings": run.settings_snapshot, "metrics": run.metrics, "result_hash": run.result_hash,
        "data": {"start": run.data_start, "end": run.data_end, "rows": run.data_rows, "hash": run.data_hash},
        "duration_s": run.duration_s, "created_at": run.created_at,
    }  # fmt: skip
    if full:
        body.update(equity=run.equity, trades=run.trades, extra=run.extra)
    return body


class BacktestRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Backtest runs of the requesting user: create with settings_id or settings; poll for the result."""

    ordering = "-created_at"

    def get_queryset(self):
        return owned_by(BacktestRun.objects.select_related("job"), self.request.user)

    def get_serializer_class(self):
        return RunInput

    @extend_schema(request=RunInput, responses={202: OpenApiTypes.OBJECT})
    def create(self, request):
        data = RunInput(data=request.data)
        data.is_valid(raise_exception=True)
        settings = resolve_settings(request, data.validated_data)
        run = services.backtest_run_create(owner=request.user, settings=settings,
                                           engine_name=data.validated_data["engine"])  # fmt: skip
        run.refresh_from_db()
        return Response(run_body(run), status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, *args, **kwargs):
        return Response(run_body(self.get_object()))

    @extend_schema(operation_id="backtests_list", responses={200: OpenApiTypes.OBJECT})
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([run_body(run, full=False) for run in page])

    @extend_schema(request=SweepInput, responses={202: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def sweep(self, request):
        """Run a parameter grid as one batch; the answer (and GET backtests/sweeps/{id}) is a sortable table."""
        data = SweepInput(data=request.data)
        data.is_valid(raise_exception=True)
        settings = resolve_settings(request, data.validated_data)
        sweep = services.backtest_sweep_create(owner=request.user, settings=settings, grid=data.validated_data["grid"])
        return Response(selectors.sweep_table(sweep=sweep), status=status.HTTP_202_ACCEPTED)


class SweepViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A parameter sweep: status and one row per run, sortable with `?sort=-sharpe`."""

    def get_queryset(self):
        return owned_by(Job.objects.filter(kind="backtests.sweep"), self.request.user)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, *args, **kwargs):
        return Response(selectors.sweep_table(sweep=self.get_object(), sort=request.query_params.get("sort")))
