from rest_framework.routers import SimpleRouter

from marketdata.api import views

router = SimpleRouter(trailing_slash=False)
router.register("symbols", views.SymbolViewSet, basename="symbol")

urlpatterns = router.urls
