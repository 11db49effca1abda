from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketdata", "0006_barchunk_version"),
    ]

    operations = [
        migrations.CreateModel(
            name="AnalyticsReport",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=64, unique=True)),
                (
                    "source",
                    models.CharField(help_text="symbol (stored bars) or file (uploaded bars)", max_length=8),
                ),
                ("symbol", models.CharField(blank=True, default="", max_length=64)),
                ("interval", models.CharField(max_length=16)),
                ("bars", models.PositiveIntegerField(default=0)),
                ("result", models.JSONField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
    ]
