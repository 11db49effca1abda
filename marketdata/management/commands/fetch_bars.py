"""Fetch history from a provider into the store, showing the cost before anything is downloaded."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from marketdata.api.fetches import FetchInput, specs_from
from marketdata.models import Symbol
from marketdata.services.fetches import fetch_estimate, fetch_run
from mdserver.api import ApplicationError


class Command(BaseCommand):
    help = "Fetch bars, trades or quotes from a provider (databento, ccxt, deribit, schwab, synthetic)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--source", required=True)
        parser.add_argument("--symbols", required=True, help="comma-separated tickers")
        parser.add_argument("--venue")
        parser.add_argument("--interval", help="bar interval, e.g. 1m")
        parser.add_argument("--schema", help="instead of --interval: ohlcv-1m, trades, tbbo, mbp-1")
        parser.add_argument("--start", required=True)
        parser.add_argument("--end", required=True)
        parser.add_argument("--dataset", default="", help="Databento dataset, e.g. XNAS.ITCH")
        parser.add_argument("--exchange", default="", help="ccxt exchanges, comma-separated")
        parser.add_argument(
            "--stype-in", dest="stype_in", default="", help="Databento symbology: raw_symbol, parent, continuous"
        )
        parser.add_argument("--yes", action="store_true", help="do not ask before downloading")

    def handle(self, *args, **options) -> None:
        raw = {
            k: options[k]
            for k in (
                "source",
                "symbols",
                "interval",
                "schema",
                "start",
                "end",
                "dataset",
                "exchange",
                "venue",
                "stype_in",
            )
        }
        data = FetchInput(data={k: v for k, v in raw.items() if v not in (None, "")})
        if not data.is_valid():
            problems = "; ".join(f"--{field}: {' '.join(map(str, msgs))}" for field, msgs in data.errors.items())
            raise CommandError(problems)
        try:
            specs = specs_from(data.validated_data)
            estimate = fetch_estimate(specs=specs)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        missing = len(estimate["missing_ranges"])
        self.stdout.write(
            f"{len(specs)} fetch(es): cost ${estimate['cost_usd']:.2f}, about {estimate['rows_estimate']:,} rows, "
            f"{missing} range(s) to download, {len(estimate['cached_ranges'])} already cached"
        )
        if missing and not options["yes"]:
            answer = sys.stdin.readline().strip().lower() if sys.stdin and not sys.stdin.closed else ""
            self.stdout.write("Download? [y/N] " + answer)
            if answer not in {"y", "yes"}:
                raise CommandError("nothing fetched (answer y, or pass --yes)")
        failures = 0
        for spec in specs:
            label = f"{Symbol.objects.get(id=spec.symbol_id)} {spec.exchange}".strip()
            with tqdm(total=100, desc=label, unit="%", disable=None) as bar:

                def progress(fraction: float, message: str) -> None:
                    bar.update(round(fraction * 100) - bar.n)

                try:
                    counts = fetch_run(spec=spec, progress=progress)
                except ApplicationError as exc:
                    failures += 1
                    self.stderr.write(f"{label}: {exc.message}")
                    continue
            self.stdout.write(
                f"{label}: {counts['rows_inserted']:,} rows stored, {counts['ranges_cached']} range(s) cached"
            )
        if failures == len(specs):
            raise CommandError("every fetch failed")
