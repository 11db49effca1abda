"""File imports: upload (validated at once, written by a job) and polling."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.ownership import owned_by
from marketdata import selectors, services
from marketdata.api.data import IntervalField
from marketdata.core.intervals import parse_interval
from marketdata.models import Import
from marketdata.providers.files import time_zone_problem


class ImportInput(serializers.Serializer):
    file = serializers.FileField()
    symbol = serializers.CharField(required=False, help_text="omit when the file has a symbol column")
    venue = serializers.CharField(required=False)
    interval = IntervalField(required=False, default=parse_interval("1m"))
    tz = serializers.CharField(required=False, help_text="IANA zone for naive timestamps, e.g. America/New_York")
    on_conflict = serializers.ChoiceField(choices=["skip", "replace"], required=False, default="skip")

    def validate_tz(self, value: str) -> str:
        problem = time_zone_problem(value)
        if problem is not None:
            raise serializers.ValidationError(problem)
        return value


class ImportOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="job.id")
    status = serializers.CharField(source="job.status")
    progress = serializers.FloatField(source="job.progress")
    message = serializers.CharField(source="job.message")
    errors = serializers.JSONField(source="job.errors")
    rows_inserted = serializers.SerializerMethodField()
    rows_updated = serializers.SerializerMethodField()
    rows_duplicate = serializers.SerializerMethodField()
    symbols = serializers.SerializerMethodField()

    class Meta:
        model = Import
        fields = [
            "id", "status", "progress", "message", "errors", "filename", "file_format", "interval", "on_conflict",
            "symbols", "rows_total", "rows_inserted", "rows_updated", "rows_duplicate", "created_at",
        ]  # fmt: skip

    def _count(self, obj: Import, key: str) -> int | None:
        return obj.job.result.get(key)

    def get_rows_inserted(self, obj: Import) -> int | None:
        return self._count(obj, "rows_inserted")

    def get_rows_updated(self, obj: Import) -> int | None:
        return self._count(obj, "rows_updated")

    def get_rows_duplicate(self, obj: Import) -> int | None:
        return self._count(obj, "rows_duplicate")

    def get_symbols(self, obj: Import) -> list[str]:
        return [str(s) for s in obj.symbols.all()]


class ImportViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Upload a CSV, JSON or Parquet bar file; every bad row is reported and nothing is written."""

    parser_classes = [MultiPartParser, FormParser]
    serializer_class = ImportOutput
    lookup_field = "job_id"
    lookup_url_kwarg = "pk"
    ordering = "-created_at"

    def get_queryset(self):
        return owned_by(Import.objects.select_related("job").prefetch_related("symbols"), self.request.user)

    @extend_schema(request=ImportInput, responses={202: ImportOutput})
    def create(self, request, *args, **kwargs):
        data = ImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        symbol = None
        if params.get("symbol"):
            symbol = selectors.symbol_resolve(ticker=params["symbol"], venue=params.get("venue"))
        upload = params["file"]
        bar_import = services.bars_import_create(
            owner=request.user,
            data=upload.read(),
            filename=upload.name or "",
            interval=str(params["interval"]),
            tz=params.get("tz"),
            symbol=symbol,
            venue=params.get("venue"),
            on_conflict=params["on_conflict"],
        )
        bar_import.refresh_from_db()
        return Response(ImportOutput(bar_import).data, status=status.HTTP_202_ACCEPTED)
