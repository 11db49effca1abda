from django.db import migrations, models


def store_uncompressed(apps, schema_editor):
    """Keep chunk payloads out of line but uncompressed: Arrow buffers barely compress and reads skip pglz."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE marketdata_barchunk ALTER COLUMN data SET STORAGE EXTERNAL")


def drop_chunks(apps, schema_editor):
    # Chunks are a cache: the ones built before versions existed are rebuilt on the next read.
    apps.get_model("marketdata", "BarChunk").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("marketdata", "0005_replaysession"),
    ]

    operations = [
        migrations.RunPython(drop_chunks, migrations.RunPython.noop),
        migrations.AddField(
            model_name="barchunk",
            name="version",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(store_uncompressed, migrations.RunPython.noop),
    ]
