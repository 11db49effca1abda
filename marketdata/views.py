from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.ownership import owned_by
from marketdata import store
from marketdata.selectors import symbols_overview
from mdserver.models import Job


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    jobs = owned_by(Job.objects.all(), request.user)[:10]
    return render(request, "dashboard.html", {"symbols": symbols_overview(), "jobs": jobs})


@login_required
def imports_page(request: HttpRequest) -> HttpResponse:
    from marketdata.models import Import, Symbol

    imports = owned_by(Import.objects.select_related("job").prefetch_related("symbols"), request.user)[:50]
    return render(request, "imports.html", {"symbols": Symbol.objects.filter(active=True), "imports": imports})


@login_required
def chart_page(request: HttpRequest, ticker: str) -> HttpResponse:
    from accounts.services import preferences_get
    from marketdata import selectors
    from marketdata.core.calendar import get_calendar
    from mdserver.api import ApplicationError

    try:
        symbol = selectors.symbol_resolve(ticker=ticker, venue=request.GET.get("venue"))
    except ApplicationError as exc:
        return render(request, "chart_missing.html", {"ticker": ticker, "message": exc.message}, status=404)
    has_data = bool(store.bars_summary(symbol_ids=[symbol.id]))
    context = {
        "symbol": symbol,
        "has_data": has_data,
        "market_tz": str(get_calendar(symbol.calendar).tz),
        "theme": preferences_get(user=request.user).theme,
        "intervals": ["1m", "2m", "3m", "5m", "15m", "1h", "1d"],
    }
    return render(request, "chart.html", context)
