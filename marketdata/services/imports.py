"""Bar ingest and file imports: validate everything, then write all or nothing."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
from django.db import transaction

from marketdata import store
from marketdata.core.bars import dedup_bars, validate_bars
from marketdata.core.errors import RowError
from marketdata.models import Import, Symbol
from marketdata.providers.files import parse_bars_file
from marketdata.services.types import ProgressCallback
from mdserver import jobs
from mdserver.api import ApplicationError

MAX_REPORTED_ERRORS = 100
WRITE_CHUNK_ROWS = 250_000


@dataclass
class PreparedBars:
    """Validated, de-duplicated bars per symbol, ready to write."""

    frames: dict[int, pd.DataFrame]
    rows_total: int
    duplicates_in_file: int
    file_format: str = ""


def _row_errors_to_details(errors) -> list[dict]:
    return [error.as_dict() for error in errors[:MAX_REPORTED_ERRORS]]


def bars_prepare(
    *, frames: dict, rows: dict, rows_total: int, default_symbol: Symbol | None, venue: str | None
) -> PreparedBars:
    """Resolve symbols, validate and de-duplicate parsed bars; raise with every bad row."""

    errors: list = []
    prepared: dict[int, pd.DataFrame] = {}
    duplicates = 0
    for key, frame in frames.items():
        source_rows = rows[key]
        if key is None:
            if default_symbol is None:
                errors.append(RowError(None, "symbol", "give the symbol parameter or a symbol column in the file"))
                continue
            symbol = default_symbol
        else:
            symbol = _symbol_for_file(ticker=str(key), venue=venue)
            if symbol is None:
                first_row = int(source_rows.min()) if len(source_rows) else None
                where = f" with venue {venue!r}" if venue else ""
                errors.append(RowError(first_row, "symbol", f"unknown symbol {key!r}{where}"))
                continue
        errors.extend(validate_bars(frame, source_rows, limit=MAX_REPORTED_ERRORS))
        deduped = dedup_bars(frame, source_rows, limit=MAX_REPORTED_ERRORS)
        errors.extend(deduped.errors)
        duplicates += deduped.duplicates
        if symbol.id in prepared:
            prepared[symbol.id] = pd.concat([prepared[symbol.id], deduped.frame]).sort_values("ts", kind="stable")
        else:
            prepared[symbol.id] = deduped.frame
    if errors:
        errors.sort(key=lambda e: (e.row is not None, e.row or 0))
        raise ApplicationError(
            f"{len(errors)} problem(s) found; nothing was imported", details=_row_errors_to_details(errors)
        )
    return PreparedBars(frames=prepared, rows_total=rows_total, duplicates_in_file=duplicates)


def _symbol_for_file(*, ticker: str, venue: str | None) -> Symbol | None:
    matches = Symbol.objects.filter(ticker__iexact=ticker)
    if venue:
        matches = matches.filter(venue__iexact=venue)
    found = list(matches[:2])
    return found[0] if len(found) == 1 else None


def bars_file_prepare(
    *, data: bytes, filename: str, tz: str | None, symbol: Symbol | None, venue: str | None
) -> PreparedBars:
    """Parse and validate an uploaded bar file; raise `ApplicationError` naming every bad row."""

    parsed = parse_bars_file(data, filename=filename, tz=tz, max_errors=MAX_REPORTED_ERRORS)
    if not parsed.ok:
        raise ApplicationError(
            f"{parsed.errors_total} problem(s) found; nothing was imported",
            details=_row_errors_to_details(parsed.errors),
        )
    prepared = bars_prepare(
        frames=parsed.frames, rows=parsed.rows, rows_total=parsed.rows_total, default_symbol=symbol, venue=venue
    )
    prepared.file_format = parsed.format
    return prepared


def bars_write_prepared(
    *, prepared: PreparedBars, interval: str, on_conflict: str, progress: ProgressCallback | None = None
) -> dict[str, int]:
    """Write prepared bars all-or-nothing (one transaction) and count what changed."""
    total = sum(len(frame) for frame in prepared.frames.values())
    counts = {"rows_total": prepared.rows_total, "rows_inserted": 0, "rows_updated": 0, "rows_duplicate": 0}
    done = 0
    with transaction.atomic():
        for symbol_id, frame in prepared.frames.items():
            for start in range(0, len(frame), WRITE_CHUNK_ROWS):
                chunk = frame.iloc[start : start + WRITE_CHUNK_ROWS]
                result = store.bars_write(symbol_id=symbol_id, interval=interval, frame=chunk, on_conflict=on_conflict)
                counts["rows_inserted"] += result.inserted
                counts["rows_updated"] += result.updated
                counts["rows_duplicate"] += result.duplicate
                done += len(chunk)
                if progress:
                    progress(done / max(total, 1), f"{done:,} of {total:,} rows written")
    counts["rows_duplicate"] += prepared.duplicates_in_file
    return counts


def bars_import_create(
    *,
    owner,
    data: bytes,
    filename: str,
    interval: str,
    tz: str | None,
    symbol: Symbol | None,
    venue: str | None,
    on_conflict: str,
):
    """Validate an upload now (400 on any bad row) and queue the job that writes it."""

    prepared = bars_file_prepare(data=data, filename=filename, tz=tz, symbol=symbol, venue=venue)
    parts = [frame.assign(symbol_id=symbol_id) for symbol_id, frame in prepared.frames.items()]
    buffer = io.BytesIO()
    pd.concat(parts, ignore_index=True).to_parquet(buffer, index=False)
    with transaction.atomic():
        job = jobs.submit_deferred(kind="marketdata.import_bars", owner=owner, params={"filename": filename})
        bar_import = Import.objects.create(
            job=job,
            owner=owner,
            filename=filename[:255],
            file_format=prepared.file_format,
            interval=interval,
            on_conflict=on_conflict,
            rows_total=prepared.rows_total,
            duplicates_in_file=prepared.duplicates_in_file,
            payload=buffer.getvalue(),
        )
        bar_import.symbols.set(list(prepared.frames))
        jobs.dispatch(job)
    job.refresh_from_db()
    return bar_import


def bars_import_run(*, import_id: int, progress: ProgressCallback | None = None) -> dict[str, int]:
    """Write an import's validated rows (the job body); safe to run again."""

    bar_import = Import.objects.get(id=import_id)
    table = pd.read_parquet(io.BytesIO(bytes(bar_import.payload)))
    frames = {
        int(sid): part.drop(columns="symbol_id").reset_index(drop=True) for sid, part in table.groupby("symbol_id")
    }
    prepared = PreparedBars(
        frames=frames, rows_total=bar_import.rows_total, duplicates_in_file=bar_import.duplicates_in_file
    )
    counts = bars_write_prepared(
        prepared=prepared, interval=bar_import.interval, on_conflict=bar_import.on_conflict, progress=progress
    )
    Import.objects.filter(id=import_id).update(payload=b"")
    return counts
