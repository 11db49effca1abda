from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from accounts.api.views import PreferencesApi, RegisterApi, TokenApi
from backtests import views as backtest_views
from marketdata import views as marketdata_views
from mdserver.views import JobViewSet, api_not_found

jobs_router = SimpleRouter(trailing_slash=False)
jobs_router.register("jobs", JobViewSet, basename="job")

api_v1 = [
    path("auth/register", RegisterApi.as_view(), name="api-register"),
    path("auth/token", TokenApi.as_view(), name="api-token"),
    path("me/preferences", PreferencesApi.as_view(), name="api-preferences"),
    path("", include("marketdata.api.urls")),
    path("", include("backtests.api.urls")),
    path("", include(jobs_router.urls)),
    re_path(r"^.*$", api_not_found),  # last: whatever the routes above do not match
]

urlpatterns = [
    path("", marketdata_views.dashboard, name="dashboard"),
    path("imports/", marketdata_views.imports_page, name="imports"),
    path("chart/<path:ticker>/", marketdata_views.chart_page, name="chart"),
    path("backtests/", backtest_views.backtests_page, name="backtests"),
    path("backtests/runs/<int:run_id>/", backtest_views.run_page, name="backtest-run"),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^api/.*$", api_not_found),  # after every API route: /api/ never answers an HTML page
]
