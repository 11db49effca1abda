from django.apps import AppConfig


class MdserverConfig(AppConfig):
    name = "mdserver"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"
