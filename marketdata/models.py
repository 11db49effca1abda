"""Symbols and market-data rows. Only marketdata/store.py reads or writes the rows."""

import uuid

from django.core.exceptions import ValidationError
from django.db import models

from marketdata.core.calendar import UnknownCalendarError, get_calendar


def validate_calendar_name(value: str) -> None:
    try:
        get_calendar(value)
    except UnknownCalendarError:
        raise ValidationError(
            f"unknown calendar {value!r}: use a pandas-market-calendars name such as XNYS, CME_Globex_Metals or 24/7"
        ) from None


class Symbol(models.Model):
    class AssetClass(models.TextChoices):
        EQUITY = "equity"
        ETF = "etf"
        FUTURE = "future"
        CRYPTO = "crypto"
        INDEX = "index"
        FX = "fx"
        OPTION = "option"

    ticker = models.CharField(max_length=64)
    venue = models.CharField(max_length=32)
    calendar = models.CharField(max_length=64, default="XNYS", validators=[validate_calendar_name])
    asset_class = models.CharField(max_length=16, choices=AssetClass.choices, default=AssetClass.EQUITY)
    description = models.CharField(max_length=255, blank=True, default="")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ticker", "venue"]
        constraints = [models.UniqueConstraint(fields=["ticker", "venue"], name="symbol_ticker_venue_unique")]

    def __str__(self) -> str:
        return f"{self.ticker}/{self.venue}"


class Bar(models.Model):
    """One OHLCV bar labelled by its open time `ts` (UTC).

    The hot market-data tables carry no database foreign key: a per-row key check
    would halve the ingest rate. `services.symbol_delete` removes a symbol's rows.
    """

    pk = models.CompositePrimaryKey("symbol_id", "interval", "ts")
    symbol = models.ForeignKey(Symbol, on_delete=models.DO_NOTHING, db_index=False, db_constraint=False)
    interval = models.CharField(max_length=16)  # up to "31622400s"
    ts = models.DateTimeField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.FloatField()
    trade_count = models.BigIntegerField(null=True)
    vwap = models.FloatField(null=True)


class Trade(models.Model):
    """One trade; `seq` orders trades that share a timestamp."""

    pk = models.CompositePrimaryKey("symbol_id", "ts", "seq")
    symbol = models.ForeignKey(Symbol, on_delete=models.DO_NOTHING, db_index=False, db_constraint=False)
    ts = models.DateTimeField()
    seq = models.IntegerField(default=0)
    price = models.FloatField()
    size = models.FloatField()
    side = models.CharField(max_length=4, blank=True, default="")


class Quote(models.Model):
    """One top-of-book quote; `seq` orders quotes that share a timestamp."""

    pk = models.CompositePrimaryKey("symbol_id", "ts", "seq")
    symbol = models.ForeignKey(Symbol, on_delete=models.DO_NOTHING, db_index=False, db_constraint=False)
    ts = models.DateTimeField()
    seq = models.IntegerField(default=0)
    bid = models.FloatField()
    bid_size = models.FloatField()
    ask = models.FloatField()
    ask_size = models.FloatField()


class Import(models.Model):
    """An uploaded bar file: validated on upload, written to the store by its job."""

    job = models.OneToOneField("mdserver.Job", on_delete=models.CASCADE, related_name="bar_import")
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE)
    filename = models.CharField(max_length=255, blank=True, default="")
    file_format = models.CharField(max_length=16)
    interval = models.CharField(max_length=16)  # up to "31622400s"
    on_conflict = models.CharField(max_length=8, default="skip")
    symbols = models.ManyToManyField(Symbol, related_name="imports")
    rows_total = models.PositiveIntegerField(default=0)
    duplicates_in_file = models.PositiveIntegerField(default=0)
    # The validated rows as Parquet (symbol_id + bar columns), kept until the job has written them.
    payload = models.BinaryField(default=b"", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename or 'upload'} ({self.interval})"


class BarChunk(models.Model):
    """A month of one symbol's bars of one interval as an Arrow IPC stream: the PostgreSQL read cache.

    Built on first read, deleted by any write that touches its month (store.py). `version`
    is drawn at random when the chunk is built, so a server process can keep the decoded
    table in memory and know, from the version alone, whether it is still this chunk.
    """

    pk = models.CompositePrimaryKey("symbol_id", "interval", "month")
    symbol = models.ForeignKey(Symbol, on_delete=models.DO_NOTHING, db_index=False, db_constraint=False)
    interval = models.CharField(max_length=16)  # up to "31622400s"
    month = models.DateField()
    rows = models.PositiveIntegerField()
    version = models.BigIntegerField(default=0)
    data = models.BinaryField()
    built_at = models.DateTimeField(auto_now=True)


class ProviderCacheEntry(models.Model):
    """A range fetched from a provider: the fetch cache that keeps a range from being paid twice."""

    source = models.CharField(max_length=32)
    dataset = models.CharField(max_length=64, blank=True, default="")
    schema = models.CharField(max_length=32, help_text="bar interval (1m, 1h...) or trades / quotes")
    exchange = models.CharField(max_length=32, blank=True, default="")
    symbol = models.ForeignKey(Symbol, on_delete=models.CASCADE, related_name="cache_entries")
    start = models.DateTimeField()
    end = models.DateTimeField()
    rows = models.PositiveIntegerField(default=0)
    cost_usd = models.FloatField(default=0.0)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["symbol", "source", "start"]
        indexes = [models.Index(fields=["symbol", "source", "schema"])]
        verbose_name_plural = "provider cache entries"

    def __str__(self) -> str:
        return f"{self.source}:{self.symbol} {self.schema} {self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M}"


class Drawing(models.Model):
    """A chart drawing a user saved on a symbol: trend line, horizontal line, Fibonacci retracement, rectangle."""

    class Kind(models.TextChoices):
        TREND_LINE = "trend_line"
        HORIZONTAL_LINE = "horizontal_line"
        FIBONACCI = "fibonacci"
        RECTANGLE = "rectangle"

    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="drawings")
    symbol = models.ForeignKey(Symbol, on_delete=models.CASCADE, related_name="drawings")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Anchor points [{t: ISO-8601 UTC, price}], one for a horizontal line, two otherwise.
    points = models.JSONField()
    style = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.symbol} by {self.owner}"


class ReplaySession(models.Model):
    """A replay (dates given) or live session a user runs; its engine runs in a worker or thread.

    Control (pause, resume, stop, speed) is written here and picked up by the runner;
    the runner writes the state and a snapshot of `session_data` back.
    """

    class State(models.TextChoices):
        STARTING = "starting"
        RUNNING = "running"
        PAUSED = "paused"
        STOPPED = "stopped"
        FINISHED = "finished"
        ERROR = "error"

    FINAL = (State.STOPPED, State.FINISHED, State.ERROR)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="replay_sessions")
    config = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.STARTING)
    desired_state = models.CharField(max_length=16, default=State.RUNNING)
    speed = models.FloatField(default=0.0)
    snapshot = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    job = models.ForeignKey("mdserver.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"session {self.id} ({self.state})"


class AnalyticsReport(models.Model):
    """A computed analytics report, stored under the hash of its bars and parameters.

    `key` is `marketdata.core.report.report_key`: the same bars with the same
    parameters give the same key, so a repeated request is answered from here.
    """

    key = models.CharField(max_length=64, unique=True)
    source = models.CharField(max_length=8, help_text="symbol (stored bars) or file (uploaded bars)")
    symbol = models.CharField(max_length=64, blank=True, default="")
    interval = models.CharField(max_length=16)  # up to "31622400s"
    bars = models.PositiveIntegerField(default=0)
    result = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"report {self.key[:12]} ({self.symbol or self.source} {self.interval}, {self.bars} bars)"
