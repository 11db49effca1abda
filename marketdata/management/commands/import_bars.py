"""Import a CSV, JSON or Parquet bar file into the store, all or nothing."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from marketdata import selectors, services
from marketdata.core.intervals import IntervalError, parse_interval
from mdserver.api import ApplicationError


class Command(BaseCommand):
    help = "Import bars from FILE (CSV, JSON or Parquet). Any bad row: nothing is written and every problem is listed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--symbol", help="ticker; omit when the file has a symbol column")
        parser.add_argument("--venue")
        parser.add_argument("--interval", default="1m")
        parser.add_argument("--tz", help="IANA time zone for naive timestamps, e.g. America/New_York")
        parser.add_argument("--on-conflict", choices=["skip", "replace"], default="skip")

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            interval = parse_interval(options["interval"])
        except IntervalError as exc:
            raise CommandError(f"--interval: {exc}") from None
        try:
            symbol = None
            if options["symbol"]:
                symbol = selectors.symbol_resolve(ticker=options["symbol"], venue=options["venue"])
            prepared = services.bars_file_prepare(
                data=path.read_bytes(), filename=path.name, tz=options["tz"], symbol=symbol, venue=options["venue"]
            )
            with tqdm(total=100, desc=f"importing {path.name}", unit="%", disable=None) as bar:

                def progress(fraction: float, message: str) -> None:
                    bar.update(round(fraction * 100) - bar.n)
                    bar.set_postfix_str(message)

                counts = services.bars_write_prepared(
                    prepared=prepared, interval=str(interval), on_conflict=options["on_conflict"], progress=progress
                )
        except ApplicationError as exc:
            lines = [exc.message] + [
                f"  row {d.get('row') if d.get('row') is not None else '-'}: {d.get('field')}: {d.get('message')}"
                for d in exc.details
            ]
            raise CommandError("\n".join(lines)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['rows_total']:,} rows read: {counts['rows_inserted']:,} added, "
                f"{counts['rows_updated']:,} replaced, {counts['rows_duplicate']:,} duplicates"
            )
        )
