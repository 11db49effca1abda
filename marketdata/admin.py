from django.contrib import admin

from marketdata import services, store
from marketdata.models import Import, Symbol


@admin.register(Symbol)
class SymbolAdmin(admin.ModelAdmin):
    list_display = ("ticker", "venue", "asset_class", "calendar", "active", "stored_intervals")
    list_filter = ("asset_class", "venue", "active", "calendar")
    search_fields = ("ticker", "venue", "description")

    @admin.display(description="stored bars")
    def stored_intervals(self, obj: Symbol) -> str:
        summary = store.bars_summary(symbol_ids=[obj.id]).get(obj.id, {})
        return ", ".join(f"{interval}: {item['count']:,}" for interval, item in sorted(summary.items())) or "—"

    def delete_model(self, request, obj: Symbol) -> None:
        services.symbol_delete(symbol=obj)

    def delete_queryset(self, request, queryset) -> None:
        for symbol in queryset:
            services.symbol_delete(symbol=symbol)


@admin.register(Import)
class ImportAdmin(admin.ModelAdmin):
    list_display = ("filename", "owner", "interval", "rows_total", "status", "created_at")
    list_filter = ("interval", "file_format", "on_conflict")
    search_fields = ("filename", "owner__username")
    readonly_fields = ("job", "owner", "filename", "file_format", "interval", "on_conflict", "rows_total",
                       "duplicates_in_file", "created_at", "symbols")  # fmt: skip
    list_select_related = ("job", "owner")

    @admin.display(description="status")
    def status(self, obj: Import) -> str:
        return f"{obj.job.status} ({obj.job.progress:.0%})"

    def has_add_permission(self, request) -> bool:
        return False
