"""Chart drawings, saved per user and symbol; a user sees and deletes only their own."""

from __future__ import annotations

import math

import pandas as pd
from rest_framework import serializers, viewsets

from accounts.ownership import OwnedQuerysetMixin
from marketdata.models import Drawing, Symbol

POINTS_PER_KIND = {"trend_line": 2, "horizontal_line": 1, "fibonacci": 2, "rectangle": 2}


class PointSerializer(serializers.Serializer):
    t = serializers.CharField()
    price = serializers.FloatField()

    def validate_t(self, value: str) -> str:
        try:
            stamp = pd.Timestamp(value)
        except ValueError:
            raise serializers.ValidationError("not an ISO-8601 time") from None
        if stamp.tzinfo is None:
            raise serializers.ValidationError("needs a UTC offset or Z")
        return stamp.tz_convert("UTC").isoformat().replace("+00:00", "Z")

    def validate_price(self, value: float) -> float:
        if not math.isfinite(value):
            raise serializers.ValidationError("must be a finite number")
        return value


class DrawingSerializer(serializers.ModelSerializer):
    symbol = serializers.PrimaryKeyRelatedField(queryset=Symbol.objects.all())
    points = PointSerializer(many=True)

    class Meta:
        model = Drawing
        fields = ["id", "symbol", "kind", "points", "style", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate(self, data: dict) -> dict:
        kind = data.get("kind", getattr(self.instance, "kind", None))
        points = data.get("points", getattr(self.instance, "points", []))
        wanted = POINTS_PER_KIND.get(kind)
        if wanted is not None and len(points) != wanted:
            raise serializers.ValidationError({"points": f"a {kind} needs {wanted} point(s), got {len(points)}"})
        return data


class DrawingViewSet(OwnedQuerysetMixin, viewsets.ModelViewSet):
    """Drawings of the requesting user; filter with `?symbol=<id>`."""

    queryset = Drawing.objects.all()
    serializer_class = DrawingSerializer
    ordering = "id"

    def get_queryset(self):
        queryset = super().get_queryset()
        symbol = self.request.query_params.get("symbol")
        if symbol:
            if not (symbol.isascii() and symbol.isdigit()) or len(symbol) > 18:  # "²" is a digit to isdigit()
                from mdserver.api import ApplicationError

                raise ApplicationError("symbol must be a symbol id", details=[{"field": "symbol", "message": "an id"}])
            queryset = queryset.filter(symbol_id=int(symbol))
        return queryset
