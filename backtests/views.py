from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.ownership import owned_by
from backtests.models import BacktestRun, BacktestSettings
from marketdata.models import Symbol


@login_required
def backtests_page(request: HttpRequest) -> HttpResponse:
    context = {
        "saved": owned_by(BacktestSettings.objects.select_related("symbol"), request.user),
        "runs": owned_by(BacktestRun.objects.select_related("job"), request.user)[:50],
        "symbols": Symbol.objects.filter(active=True),
    }
    return render(request, "backtests/index.html", context)


@login_required
def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(owned_by(BacktestRun.objects.select_related("job"), request.user), id=run_id)
    return render(request, "backtests/run.html", {"run": run})
