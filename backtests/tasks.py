"""Job handlers for backtests."""

from backtests import services
from mdserver.jobs import JobContext, job_handler


@job_handler("backtests.run")
def backtest_run_job(job: JobContext) -> dict:
    result = services.backtest_run_execute(run_id=int(job.params["run_id"]), progress=job.progress)
    job.progress(1.0, f"{result['trades']} trades", force=True)
    return result
