from django.conf import settings
from django.db import models


class Preferences(models.Model):
    """Per-user display settings (chart theme, ...)."""

    class Theme(models.TextChoices):
        LIGHT = "light"
        DARK = "dark"

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences")
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.LIGHT)

    def __str__(self) -> str:
        return f"preferences of {self.owner}"
