"""mdserver: a self-hosted market-data server and backtesting web application."""

from mdserver.celery import app as celery_app

__all__ = ["celery_app"]
