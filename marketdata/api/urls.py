from django.urls import path
from rest_framework.routers import SimpleRouter

from marketdata.api import compat, data, datamanager, drawings, fetches, imports, report, sessions, views

router = SimpleRouter(trailing_slash=False)
router.register("symbols", views.SymbolViewSet, basename="symbol")
router.register("imports", imports.ImportViewSet, basename="import")
router.register("fetches", fetches.FetchViewSet, basename="fetch")
router.register("drawings", drawings.DrawingViewSet, basename="drawing")
router.register("sessions", sessions.SessionViewSet, basename="session")

urlpatterns = [
    path("bars", data.BarsApi.as_view(), name="bars"),
    path("bars/latest", data.BarsLatestApi.as_view(), name="bars-latest"),
    path("trades", data.TradesApi.as_view(), name="trades"),
    path("quotes", data.QuotesApi.as_view(), name="quotes"),
    path("market-data/<str:exchange>/<str:symbol>/buffer/<str:timeframe>", compat.MarketDataBufferApi.as_view()),
    path("market-data/<str:exchange>/<str:symbol>/history", compat.MarketDataHistoryApi.as_view()),
    path("clock", datamanager.ClockApi.as_view(), name="clock"),
    path("calendar/sessions", datamanager.CalendarSessionsApi.as_view(), name="calendar-sessions"),
    path("calendar/holidays", datamanager.CalendarHolidaysApi.as_view(), name="calendar-holidays"),
    path("calendar/day", datamanager.CalendarDayApi.as_view(), name="calendar-day"),
    path("analytics/average-volume", datamanager.AverageVolumeApi.as_view()),
    path("analytics/session-volume", datamanager.SessionVolumeApi.as_view()),
    path("analytics/average-volume-at-time", datamanager.AverageVolumeAtTimeApi.as_view()),
    path("analytics/high-low", datamanager.HighLowApi.as_view()),
    path("analytics/session-high-low", datamanager.SessionHighLowApi.as_view()),
    path("analytics/indicators", datamanager.IndicatorsApi.as_view()),
    path("analytics/report", report.ReportApi.as_view(), name="analytics-report"),
    path("analytics/report/batch", report.ReportBatchApi.as_view(), name="analytics-report-batch"),
    *router.urls,
]
