from django.contrib import admin

from marketdata import services, store
from marketdata.models import AnalyticsReport, Import, ProviderCacheEntry, Symbol


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


@admin.register(ProviderCacheEntry)
class ProviderCacheEntryAdmin(admin.ModelAdmin):
    list_display = ("symbol", "source", "dataset", "exchange", "schema", "start", "end", "rows", "size", "cost_usd",
                    "fetched_at")  # fmt: skip
    list_filter = ("source", "schema", "exchange", "dataset")
    search_fields = ("symbol__ticker",)
    actions = ["refresh", "invalidate_expired", "clear", "fill_gaps"]

    @admin.display(description="size")
    def size(self, obj: ProviderCacheEntry) -> str:
        if obj.file_size is not None:
            return f"{obj.file_size / 1e6:.1f} MB file"
        return f"{obj.rows:,} rows"

    @admin.action(description="Refresh: fetch the selected ranges again now")
    def refresh(self, request, queryset) -> None:
        from marketdata.services.fetches import FetchSpec
        from mdserver import jobs

        for entry in queryset:
            spec = FetchSpec(source=entry.source, symbol_id=entry.symbol_id, schema=entry.schema,
                             start=entry.start, end=entry.end, dataset=entry.dataset, exchange=entry.exchange)  # fmt: skip
            jobs.submit(kind="marketdata.fetch_symbol", owner=request.user, params={**spec.as_params(), "force": True})
        self.message_user(request, f"{queryset.count()} refresh job(s) queued")

    @admin.action(description="Invalidate expired entries (older than MDSERVER_FETCH_CACHE_MAX_AGE)")
    def invalidate_expired(self, request, queryset) -> None:
        from django.utils import timezone

        from marketdata.services.fetches import cache_max_age

        age = cache_max_age()
        if age is None:
            self.message_user(request, "No expiry is configured (MDSERVER_FETCH_CACHE_MAX_AGE=0): nothing expired")
            return
        deleted, _ = ProviderCacheEntry.objects.filter(fetched_at__lt=timezone.now() - age).delete()
        self.message_user(request, f"{deleted} expired entr(ies) removed; their ranges will be fetched again")

    @admin.action(description="Clear: forget the selected ranges (stored bars stay)")
    def clear(self, request, queryset) -> None:
        deleted, _ = queryset.delete()
        self.message_user(request, f"{deleted} entr(ies) cleared")

    @admin.action(description="Fill gaps: fetch the bars missing inside the selected ranges")
    def fill_gaps(self, request, queryset) -> None:
        from marketdata.services.fetches import fetch_gaps_create

        queued = sum(len(fetch_gaps_create(owner=request.user, entry=entry)) for entry in queryset)
        self.message_user(request, f"{queued} gap fetch job(s) queued")


@admin.register(AnalyticsReport)
class AnalyticsReportAdmin(admin.ModelAdmin):
    """Cached analytics reports: read-only; deleting one only makes the next request compute it again."""

    list_display = ("key_prefix", "source", "symbol", "interval", "bars", "created_at")
    list_filter = ("source", "interval")
    search_fields = ("key", "symbol")
    readonly_fields = ("key", "source", "symbol", "interval", "bars", "result", "created_at")

    @admin.display(description="key", ordering="key")
    def key_prefix(self, obj: AnalyticsReport) -> str:
        return obj.key[:12]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj: AnalyticsReport | None = None) -> bool:
        return False
