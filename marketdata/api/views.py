from rest_framework import viewsets

from marketdata import services
from marketdata.api.datamanager import CoverageMixin
from marketdata.api.permissions import IsStaffOrReadOnly
from marketdata.api.serializers import SymbolSerializer
from marketdata.models import Symbol


class SymbolViewSet(CoverageMixin, viewsets.ModelViewSet):
    """Symbols: any user reads; staff create, change and delete."""

    queryset = Symbol.objects.all()
    serializer_class = SymbolSerializer
    permission_classes = [IsStaffOrReadOnly]
    filterset_fields: list = []

    def get_queryset(self):
        queryset = super().get_queryset()
        params = self.request.query_params
        if params.get("ticker"):
            queryset = queryset.filter(ticker__iexact=params["ticker"])
        if params.get("venue"):
            queryset = queryset.filter(venue__iexact=params["venue"])
        return queryset

    def perform_destroy(self, instance: Symbol) -> None:
        services.symbol_delete(symbol=instance)
