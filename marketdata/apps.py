from django.apps import AppConfig


class MarketdataConfig(AppConfig):
    name = "marketdata"
    verbose_name = "Market data"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register job handlers in every process (web and Celery worker).
        from marketdata import tasks  # noqa: F401
