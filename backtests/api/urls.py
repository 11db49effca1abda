from django.urls import path
from rest_framework.routers import SimpleRouter

from backtests.api import views

router = SimpleRouter(trailing_slash=False)
router.register("backtest-settings", views.BacktestSettingsViewSet, basename="backtest-settings")
router.register("backtests/sweeps", views.SweepViewSet, basename="backtest-sweep")
router.register("backtests", views.BacktestRunViewSet, basename="backtest")

urlpatterns = [
    path("strategies", views.StrategiesApi.as_view(), name="strategies"),
    path("presets", views.PresetsApi.as_view(), name="presets"),
    *router.urls,
]
