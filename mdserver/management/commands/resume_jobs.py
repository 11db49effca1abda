"""Finish in-process jobs a stopped server left behind (`make run` calls this before serving)."""

from django.core.management.base import BaseCommand

from mdserver import jobs


class Command(BaseCommand):
    help = "Run the in-process jobs left queued or running by a server that stopped (no-op with Celery)."

    def handle(self, *args, **options) -> None:
        resumed = jobs.resume_unfinished()
        if resumed:
            self.stdout.write(f"finished {len(resumed)} interrupted job(s)")
