"""Backtest reads: sweep tables."""

from __future__ import annotations

from typing import Any

from backtests.models import BacktestRun
from mdserver import jobs
from mdserver.api import ApplicationError
from mdserver.models import Job

SORTABLE = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "trades", "exposure")


def sweep_table(*, sweep: Job, sort: str | None = None) -> dict[str, Any]:
    """Return a sweep's status and one row per run (params + metrics), sorted by a metric."""
    runs = list(BacktestRun.objects.filter(sweep=sweep).select_related("job").order_by("id"))
    sweep = jobs.batch_refresh(sweep)
    rows = [
        {"run_id": run.id, "status": run.job.status, "params": run.settings_snapshot["params"],
         "metrics": run.metrics, "result_hash": run.result_hash}
        for run in runs
    ]  # fmt: skip
    if sort:
        key = sort.lstrip("-")
        if key not in SORTABLE:
            raise ApplicationError(
                f"sort by one of {', '.join(SORTABLE)}", details=[{"field": "sort", "message": "unknown metric"}]
            )
        present = [r for r in rows if r["metrics"].get(key) is not None]
        missing = [r for r in rows if r["metrics"].get(key) is None]
        rows = sorted(present, key=lambda r: r["metrics"][key], reverse=sort.startswith("-")) + missing
    return {"id": str(sweep.id), "status": sweep.status, "progress": sweep.progress, "message": sweep.message,
            "grid": sweep.params["grid"], "runs": rows}  # fmt: skip
