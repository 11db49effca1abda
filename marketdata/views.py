from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.ownership import owned_by
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
