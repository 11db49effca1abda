"""Saved backtest settings and runs, per user."""

from django.conf import settings
from django.db import models

from marketdata.models import Symbol


class BacktestSettings(models.Model):
    """A user's saved backtest: data, money, costs, strategy and its parameters."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtest_settings")
    name = models.CharField(max_length=120)
    data_source = models.CharField(max_length=32, default="store", help_text="store, or a provider to fetch gaps from")
    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, related_name="+")
    interval = models.CharField(max_length=16, default="1m")  # up to "31622400s"
    start_date = models.DateField()
    end_date = models.DateField()
    initial_cash = models.FloatField(default=100_000.0)
    start_price = models.FloatField(default=0.0, help_text="0 = the first close")
    units = models.FloatField(default=0.0)
    loan_amount = models.FloatField(default=0.0)
    margin_call_ltv = models.FloatField(default=0.8)
    fee = models.FloatField(default=0.001, help_text="fraction of notional, 0.001 = 0.1%")
    slippage = models.FloatField(default=0.0, help_text="basis points")
    strategy = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name_plural = "backtest settings"

    def __str__(self) -> str:
        return f"{self.name} ({self.strategy} on {self.symbol})"


class BacktestRun(models.Model):
    """One run of a backtest: the settings used, the data's hash, and everything it produced."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtest_runs")
    settings = models.ForeignKey(
        BacktestSettings, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    job = models.OneToOneField("mdserver.Job", on_delete=models.CASCADE, related_name="backtest_run")
    sweep = models.ForeignKey(
        "mdserver.Job", null=True, blank=True, on_delete=models.CASCADE, related_name="sweep_runs"
    )
    settings_snapshot = models.JSONField()
    engine = models.CharField(max_length=16, default="vectorized")
    engine_version = models.CharField(max_length=32, blank=True, default="")
    data_start = models.DateTimeField(null=True, blank=True)
    data_end = models.DateTimeField(null=True, blank=True)
    data_rows = models.PositiveIntegerField(default=0)
    data_hash = models.CharField(max_length=64, blank=True, default="")
    metrics = models.JSONField(default=dict, blank=True)
    equity = models.JSONField(default=list, blank=True)
    trades = models.JSONField(default=list, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    result_hash = models.CharField(max_length=64, blank=True, default="")
    duration_s = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run {self.id} of {self.settings_snapshot.get('name', '?')}"
