from django.apps import AppConfig
from django.conf import settings


class MdserverConfig(AppConfig):
    name = "mdserver"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mdserver.memory import retain_freed_memory

        retain_freed_memory(settings.MALLOC_RETAIN_MB)
