from django.apps import AppConfig


class BacktestsConfig(AppConfig):
    name = "backtests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backtests import tasks  # noqa: F401  (registers the job handlers)
