"""Load the demo: synthetic 1-minute bars for the demo symbols and a demo user."""

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token
from tqdm import tqdm

from marketdata import services


class Command(BaseCommand):
    help = "Store deterministic synthetic demo bars (last N sessions) and create the demo user."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--sessions", type=int, default=30, help="trading sessions per symbol (default 30)")
        parser.add_argument("--today", help="pretend today is this date (YYYY-MM-DD); default: today in UTC")
        parser.add_argument("--username", default="demo")

    def handle(self, *args, **options) -> None:
        if options["sessions"] < 1:
            raise CommandError("--sessions must be at least 1")
        try:
            today = dt.date.fromisoformat(options["today"]) if options["today"] else services.utc_today()
        except ValueError:
            raise CommandError(f"--today must be a date like 2024-11-29, got {options['today']!r}") from None
        with tqdm(total=len(services.DEMO_SYMBOLS), desc="demo data", unit="symbol", disable=None) as bar:

            def progress(fraction: float, message: str) -> None:
                bar.set_postfix_str(message)
                bar.update(1)

            report = services.demo_seed(sessions=options["sessions"], today=today, progress=progress)
        for name, item in report.items():
            self.stdout.write(
                f"{name}: {item['sessions']} sessions {item['first']}..{item['last']}, "
                f"{item['rows_inserted']} bars added, {item['rows_duplicate']} already stored"
            )
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=options["username"], defaults={"email": f"{options['username']}@example.com"}
        )
        user.set_password(settings.DEMO_PASSWORD)
        user.is_staff = True
        user.is_superuser = True
        user.save()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login: username '{user.username}' password '{settings.DEMO_PASSWORD}' (API token {token.key})"
            )
        )
