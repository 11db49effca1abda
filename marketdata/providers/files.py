"""Parse uploaded bar files (CSV, JSON, Parquet) into normalized bar frames.

`parse_bars_file` never raises on bad input: every problem becomes a `RowError`
(`row=None` for the whole file). Rows with a problem are left out of the frames;
the caller refuses the import when `errors` is not empty, so nothing is written
partially.

Formats. The filename extension picks the format (`.csv` `.txt` `.tsv`,
`.json` `.jsonl` `.ndjson`, `.parquet` `.pq`); Parquet is also recognised by its
`PAR1` magic. Without a known extension the content decides: binary data is
refused, text starting with `[` or `{` is JSON, other text is CSV. CSV takes its
delimiter (`,` `;` tab `|`) from the header line. JSON is a top-level array of
objects, an object holding that array under `bars` (what `GET bars` returns),
`results` or `data`, or JSON lines (one object per line).

Columns. Header names are matched case-insensitively after trimming, with inner
spaces and dashes read as `_`. The timestamp is the first present of
`timestamp`, `time`, `datetime`, `date`, `ts`, `t`, `ts_event`; a `time` column
holding only times of day is joined to a `date` column. Required: `open` `high`
`low` `close` `volume` (or `o` `h` `l` `c` `v`); optional: `trade_count` (`n`,
`trades`), `vwap` (`vw`) and `symbol`, which splits the file into one frame per
symbol. Other columns are ignored.

Timestamps. ISO-8601 with `Z` or an offset is converted to UTC. Naive values and
bare dates (midnight) are wall time in `tz`; without `tz` the whole file is
refused. A wall time that DST makes ambiguous is resolved from the file order
when possible, otherwise it is a row error, as is a time in a spring-forward gap.
Numbers are epochs whose unit follows their magnitude: |x| < 1e11 seconds,
< 1e14 milliseconds, < 1e17 microseconds, otherwise nanoseconds; each unit's
range starts at 1973-03-03 except seconds. Every time must lie in the supported
range (`marketdata.core.times.SUPPORTED_TIMES`); others are row errors.

Values. Number columns are read as float64, so an integer beyond 2^53 (or an
unsigned 64-bit Parquet column) is rounded to the nearest float rather than
refused; the limits on magnitudes are `validate_bars`' to enforce. Line endings
may be LF, CRLF or CR alone; leading UTF-8 byte order marks are skipped.

Rows. Row numbers are 1-based data-record numbers: the first data line after the
CSV header, the first object of a JSON array or JSON-lines file and the first row
of a Parquet file are row 1. Blank lines are not records.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from marketdata.core.errors import RowError
from marketdata.core.times import EARLIEST_TIME, LATEST_TIME, SUPPORTED_TIMES

try:  # orjson parses large JSON documents several times faster when installed.
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover - exercised only without orjson
    _json_loads = json.loads

PRICE_FIELDS = ("open", "high", "low", "close")
REQUIRED_NUMBER_FIELDS = (*PRICE_FIELDS, "volume")
OPTIONAL_NUMBER_FIELDS = ("trade_count", "vwap")
NUMBER_FIELDS = (*REQUIRED_NUMBER_FIELDS, *OPTIONAL_NUMBER_FIELDS)

# Accepted header names per field, in order of preference.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "time", "datetime", "date", "ts", "t", "ts_event"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "v"),
    "trade_count": ("trade_count", "n", "trades"),
    "vwap": ("vwap", "vw"),
    "symbol": ("symbol",),
}
REQUIRED_FIELDS = ("timestamp", *REQUIRED_NUMBER_FIELDS)
# Errors are listed by row, then in this field order.
_FIELD_RANK = {name: rank for rank, name in enumerate(("file", *COLUMN_ALIASES))}

FORMAT_BY_EXTENSION = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_BINARY_SIGNATURES = (
    (b"\x89PNG", "PNG image"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"%PDF", "PDF document"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"\xd0\xcf\x11\xe0", "legacy Office document"),
)
_JSON_ENVELOPE_KEYS = ("bars", "results", "data")
_CSV_DELIMITERS = (",", ";", "\t", "|")

_NUMBER_RE = r"(?i)^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf(?:inity)?)$"
_INTEGER_RE = r"^[+-]?(?:\d{1,18}|[0-8]\d{18})$"  # fits int64
_OFFSET_RE = r"[Tt ]\d{1,2}:?\d{2}(?::?\d{2})?(?:[.,]\d+)?\s*(?:[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"
_TIME_OF_DAY_RE = re.compile(r"^\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")
_MISSING_STRINGS = pa.array(["", "nan", "na", "n/a", "null", "none"])

Column = pa.Array | pa.ChunkedArray

_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_INT64_MAX = np.iinfo(np.int64).max
_EARLIEST_NS = EARLIEST_TIME.as_unit("ns").value
_LATEST_NS = LATEST_TIME.as_unit("ns").value  # exclusive
# Naive wall times further than this outside the supported range cannot land inside it in
# any zone (UTC offsets stay within a day), and localizing them could leave pandas' range.
_WALL_SLACK_NS = 2 * 86_400 * 10**9
_BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(rb"[\r\n]")

# Why a timestamp was rejected; 0 = accepted.
_TS_OK, _TS_MISSING, _TS_UNPARSEABLE, _TS_OUT_OF_RANGE, _TS_AMBIGUOUS, _TS_NONEXISTENT = range(6)


@dataclass
class ParsedFile:
    """What `parse_bars_file` found.

    `frames` maps a symbol (None when the file has no `symbol` column) to the
    normalized bars of that symbol, sorted by `ts`; only symbols with at least one
    good row appear. `rows[key]` holds the source row number of each frame row.
    `errors` holds at most `max_errors` problems, file-level ones first, then by
    row; `errors_total` counts them all.
    """

    frames: dict[str | None, pd.DataFrame] = field(default_factory=dict)
    rows: dict[str | None, np.ndarray] = field(default_factory=dict)
    rows_total: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_total: int = 0
    format: str = ""

    @property
    def ok(self) -> bool:
        return self.errors_total == 0


@dataclass
class _RawTable:
    """Columns read from a file, keyed by field name, before any conversion."""

    columns: dict[str, Column]
    rows_total: int
    row_numbers: np.ndarray | None = None  # None: records 1..n in order
    errors: list[RowError] = field(default_factory=list)  # structural and file errors
    errors_total: int = 0


@dataclass
class _BadRows:
    """Rows that failed one field; RowErrors are built only for the few reported."""

    field: str
    positions: np.ndarray
    message: Callable[[int], str]


def parse_bars_file(
    data: bytes,
    *,
    filename: str = "",
    tz: str | None = None,
    max_errors: int = 100,
) -> ParsedFile:
    """Parse the bytes of an uploaded bar file; see the module docstring for the rules."""
    if max_errors < 1:
        raise ValueError("max_errors must be at least 1")
    if tz is not None:
        problem = time_zone_problem(tz)
        if problem is not None:
            return _refused("tz", problem)

    # Editors that add a byte order mark to a file that already has one leave several.
    while data.startswith(_BOM):
        data = data[len(_BOM) :]
    if not data or data.isspace():
        return _refused("file", "file is empty")
    file_format, description = _detect_format(data, filename)
    if file_format is None:
        message = f"unsupported file type ({description}); upload CSV, JSON or Parquet"
        return _refused("file", message)

    reader = {"csv": _read_csv, "json": _read_json, "parquet": _read_parquet}[file_format]
    raw = reader(data, max_errors)
    file_errors = [error for error in raw.errors if error.row is None]
    if raw.rows_total == 0 and not file_errors:  # an unreadable file has no rows for its own reason
        file_errors.append(RowError(None, "file", "file has no rows (header only)"))
    if file_errors:
        return _refused_with(file_errors, raw.rows_total, file_format)
    parsed = _convert(raw, tz, max_errors)
    parsed.format = file_format
    return parsed


def time_zone_problem(tz: str) -> str | None:
    """Return why `tz` is not a usable IANA time zone name, or None when it is."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # A name is looked up as a file path: too long, a directory or unreadable are OSErrors.
        name = tz if len(tz) <= 40 else tz[:37] + "..."
        return f"unknown time zone {name!r}; use an IANA name such as 'America/New_York'"
    return None


def _refused(field_name: str, message: str) -> ParsedFile:
    return _refused_with([RowError(None, field_name, message)], 0, "")


def _refused_with(errors: list[RowError], rows_total: int, file_format: str) -> ParsedFile:
    return ParsedFile(rows_total=rows_total, errors=errors, errors_total=len(errors), format=file_format)


# --- format detection -------------------------------------------------------------


def _detect_format(data: bytes, filename: str) -> tuple[str | None, str]:
    """Return (format, description); format is None when the file is not supported."""
    if data[:4] == b"PAR1":
        return "parquet", "Parquet"
    for signature, description in _BINARY_SIGNATURES:
        if data.startswith(signature):
            return None, description
    if b"\x00" in data[:8192]:
        return None, "binary data"
    extension = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    file_format = FORMAT_BY_EXTENSION.get(extension)
    if file_format == "parquet":
        return None, f"{extension} file without the Parquet PAR1 signature"
    if file_format is not None:
        return file_format, file_format
    return ("json" if data.lstrip()[:1] in (b"[", b"{") else "csv"), "sniffed"


# --- column names -------------------------------------------------------------------


def _normalize_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().strip("\ufeff").strip().lower())


def _resolve_columns(names: list[str]) -> tuple[dict[str, str], list[RowError]]:
    """Map field names to the file's column names; report missing and duplicate ones."""
    by_normalized: dict[str, list[str]] = {}
    for name in names:
        by_normalized.setdefault(_normalize_name(name), []).append(name)
    columns: dict[str, str] = {}
    errors: list[RowError] = []
    for field_name, aliases in COLUMN_ALIASES.items():
        alias = next((alias for alias in aliases if alias in by_normalized), None)
        if alias is None:
            if field_name in REQUIRED_FIELDS:
                message = f"missing required column {field_name!r}"
                errors.append(RowError(None, field_name, message))
            continue
        if len(by_normalized[alias]) > 1:
            found = ", ".join(repr(name) for name in by_normalized[alias])
            message = f"duplicate column {alias!r} ({found})"
            errors.append(RowError(None, field_name, message))
        columns[field_name] = by_normalized[alias][0]
    if _normalize_name(columns.get("timestamp", "")) == "time" and "date" in by_normalized:
        columns["_date"] = by_normalized["date"][0]
    return columns, errors


def _arrays(table: pa.Table, columns: dict[str, str]) -> dict[str, Column]:
    """Return the column of each field, dictionary-decoded, string views as strings."""
    arrays = {}
    for field_name, name in columns.items():
        array = table.column(name)
        if pa.types.is_dictionary(array.type):
            array = array.cast(array.type.value_type)
        if pa.types.is_string_view(array.type):  # the parsers below read string and large_string
            array = array.cast(pa.large_string())
        arrays[field_name] = array
    return arrays


# --- readers ------------------------------------------------------------------------


def _read_csv(data: bytes, max_errors: int) -> _RawTable:
    data = data.lstrip(b"\r\n")
    # CR alone ends lines in old Mac files; pyarrow and the record reader accept all three endings.
    header_end = _LINE_END.search(data)
    header_line = data[: header_end.start() if header_end else len(data)].decode("utf-8", errors="replace")
    delimiter = max(_CSV_DELIMITERS, key=header_line.count)
    try:
        names = next(csv.reader([header_line], delimiter=delimiter))
    except csv.Error as exc:  # e.g. a header name past the csv module's field size limit
        return _RawTable({}, 0, errors=[RowError(None, "file", f"cannot read the CSV header: {exc}")])
    columns, errors = _resolve_columns(names)
    if errors:
        lines = data.splitlines()
        return _RawTable({}, len(lines) - 1 - lines.count(b""), errors=errors)

    include = list(dict.fromkeys(columns.values()))
    parse_options = pacsv.ParseOptions(delimiter=delimiter)
    attempts = (
        # Inferred types: fast and exact when every value is well formed.
        {columns["symbol"]: pa.string()} if "symbol" in columns else {},
        # A value pyarrow could not convert: read text and find it ourselves.
        dict.fromkeys(include, pa.string()),
    )
    for column_types in attempts:
        convert_options = pacsv.ConvertOptions(include_columns=include, column_types=column_types)
        try:
            table = pacsv.read_csv(io.BytesIO(data), parse_options=parse_options, convert_options=convert_options)
        except (pa.ArrowException, UnicodeDecodeError):
            # Also a header pyarrow reads differently from the csv module (ArrowKeyError):
            # the record reader below uses the header exactly as it was resolved.
            continue
        if any(pa.types.is_binary(kind) for kind in table.schema.types):
            continue  # bytes that are not UTF-8: the record reader decodes them as cp1252
        return _RawTable(_arrays(table, columns), table.num_rows)
    return _read_csv_records(data, delimiter, names, columns, max_errors)


def _read_csv_records(
    data: bytes, delimiter: str, names: list[str], columns: dict[str, str], max_errors: int
) -> _RawTable:
    """Read a structurally broken CSV record by record to name the broken rows."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    kept: list[list[str]] = []
    kept_rows: list[int] = []
    errors: list[RowError] = []
    errors_total = 0
    row = 0
    try:
        # Blank records are skipped like pyarrow does, so row numbers agree.
        # newline="": records end at CR, LF or CRLF, and quoted line breaks stay in their field.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        records = (record for record in reader if any(map(str.strip, record)))
        next(records, None)  # the header
        for row, record in enumerate(records, start=1):
            if len(record) == len(names):
                kept.append(record)
                kept_rows.append(row)
                continue
            errors_total += 1
            if len(errors) < max_errors:
                message = f"expected {len(names)} fields, found {len(record)}"
                errors.append(RowError(row, "file", message))
    except csv.Error as exc:
        return _RawTable({}, row, errors=[RowError(None, "file", f"cannot read CSV: {exc}")])
    arrays = {}
    for field_name, name in columns.items():
        index = names.index(name)
        arrays[field_name] = pa.array([record[index] for record in kept], pa.string())
    return _RawTable(arrays, row, np.asarray(kept_rows, dtype=np.int64), errors, errors_total)


def _read_parquet(data: bytes, max_errors: int) -> _RawTable:
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        columns, errors = _resolve_columns(parquet.schema_arrow.names)
        if errors:
            return _RawTable({}, parquet.metadata.num_rows, errors=errors)
        table = parquet.read(columns=list(dict.fromkeys(columns.values())))
    except (pa.ArrowException, OSError) as exc:
        return _RawTable({}, 0, errors=[RowError(None, "file", f"cannot read Parquet: {exc}")])
    return _RawTable(_arrays(table, columns), table.num_rows)


def _read_json(data: bytes, max_errors: int) -> _RawTable:
    try:
        document = _json_loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: json's nesting limit, without orjson
        return _read_json_lines(data, max_errors, document_error=str(exc))
    if isinstance(document, dict):
        envelope = next((k for k in _JSON_ENVELOPE_KEYS if isinstance(document.get(k), list)), None)
        records = document[envelope] if envelope else [document]
    elif isinstance(document, list):
        records = document
    else:
        message = 'expected an array of bar objects, {"bars": [...]} or JSON lines'
        return _RawTable({}, 0, errors=[RowError(None, "file", message)])
    return _json_records_table(records, np.arange(1, len(records) + 1), [], 0, max_errors)


def _read_json_lines(data: bytes, max_errors: int, document_error: str = "") -> _RawTable:
    data = data.lstrip()
    first_end = data.find(b"\n")
    first_line = data[: first_end if first_end >= 0 else len(data)]
    try:
        first = _json_loads(first_line)
    except (ValueError, RecursionError):
        first = None
    if isinstance(first, dict):
        # pyarrow drops the zone of ISO strings it infers as timestamps: keep them text.
        names = [name for name, value in first.items() if isinstance(value, str)]
        schema = pa.schema([(name, pa.string()) for name in names])
        options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
        try:
            table = pajson.read_json(io.BytesIO(data), parse_options=options)
        except pa.ArrowException:
            table = None  # mixed types, a broken line or deep nesting: take the slow road below
        if table is not None:
            columns, errors = _resolve_columns(table.column_names)
            if errors:
                return _RawTable({}, table.num_rows, errors=errors)
            return _RawTable(_arrays(table, columns), table.num_rows)

    lines = [line for line in data.splitlines() if line.strip()]
    records: list[object] = []
    rows: list[int] = []
    errors: list[RowError] = []
    for row, line in enumerate(lines, start=1):
        try:
            records.append(_json_loads(line))
            rows.append(row)
        except (ValueError, RecursionError) as exc:
            if len(errors) < max_errors:
                errors.append(RowError(row, "file", f"invalid JSON: {exc}"))
    if not records and errors:
        message = "not valid JSON (expected an array, an object or JSON lines)"
        if document_error:  # where the document failed, e.g. a number too large for a double
            message += f": {document_error[:200]}"
        return _RawTable({}, len(lines), errors=[RowError(None, "file", message)])
    bad_lines = len(lines) - len(records)
    table = _json_records_table(records, np.asarray(rows), errors, bad_lines, max_errors)
    table.rows_total = len(lines)
    return table


def _json_records_table(
    records: list[object],
    row_numbers: np.ndarray,
    errors: list[RowError],
    errors_total: int,
    max_errors: int,
) -> _RawTable:
    rows_total = len(records)
    if rows_total == 0:
        return _RawTable({}, 0)
    is_object = np.fromiter(map(isinstance, records, itertools.repeat(dict)), bool, rows_total)
    if not is_object.all():
        for position in np.flatnonzero(~is_object)[: max(0, max_errors - len(errors))]:
            kind = type(records[position]).__name__
            message = f"expected a JSON object, found {kind}"
            errors.append(RowError(int(row_numbers[position]), "file", message))
        errors_total += int((~is_object).sum())
        records = list(itertools.compress(records, is_object))
        row_numbers = row_numbers[is_object]
    columns, column_errors = _resolve_columns(list(set().union(*records)))
    if column_errors:
        return _RawTable({}, rows_total, errors=column_errors)
    arrays = {}
    for field_name, name in columns.items():
        values = list(map(dict.get, records, itertools.repeat(name)))
        try:
            arrays[field_name] = pa.array(values)
        except (pa.ArrowException, OverflowError, RecursionError):
            # Mixed types in one column (e.g. numbers and text): compare as text.
            arrays[field_name] = pa.array(_json_texts(values), pa.string(), from_pandas=True)
    return _RawTable(arrays, rows_total, row_numbers, errors, errors_total)


def _json_texts(values: list[object]) -> pd.Series:
    """Return JSON values as text, None kept missing, for a column of mixed types."""
    try:
        return pd.Series(values, dtype=object).astype("str")
    except RecursionError:  # a value nested too deep to print whole
        return pd.Series([value if value is None else _value_text(value) for value in values], dtype=object)


# --- conversion ---------------------------------------------------------------------


def _convert(raw: _RawTable, tz: str | None, max_errors: int) -> ParsedFile:
    columns = raw.columns
    count = len(columns["timestamp"])
    row_numbers = raw.row_numbers
    if row_numbers is None:
        row_numbers = np.arange(1, count + 1, dtype=np.int64)

    source = _combine_date_time(columns.get("_date"), columns["timestamp"])
    ts_ns, ts_reason, naive = _parse_timestamps(source)
    if naive.any():
        if tz is None:
            message = "naive timestamps (no Z or UTC offset) need the tz parameter, e.g. tz=America/New_York"
            return _refused_with([RowError(None, "timestamp", message)], raw.rows_total, "")
        far = naive & ((ts_ns < _EARLIEST_NS - _WALL_SLACK_NS) | (ts_ns >= _LATEST_NS + _WALL_SLACK_NS))
        ts_reason[far], naive[far] = _TS_OUT_OF_RANGE, False
        _localize(ts_ns, ts_reason, naive, tz)
    # Later reads schedule sessions around every stored bar: times the calendars cannot
    # schedule would break every read of the symbol, so they are refused here.
    unsupported = (ts_reason == _TS_OK) & ((ts_ns < _EARLIEST_NS) | (ts_ns >= _LATEST_NS))
    ts_reason[unsupported] = _TS_OUT_OF_RANGE

    bad = ts_reason != _TS_OK
    problems = [_BadRows("timestamp", np.flatnonzero(bad), _timestamp_message(source, ts_reason, tz))]
    symbols = None
    if "symbol" in columns:
        symbols = _parse_symbols(columns["symbol"])
        missing_symbol = pc.is_null(symbols).to_numpy(zero_copy_only=False)
        problems.append(_BadRows("symbol", np.flatnonzero(missing_symbol), _fixed("missing symbol")))
        # No ticker holds a NUL, and the database refuses one in text, even in a lookup.
        nul_symbol = _to_bool(pc.match_substring(symbols, "\x00"), False)
        problems.append(_BadRows("symbol", np.flatnonzero(nul_symbol), _nul_symbol_message(symbols)))
        bad |= missing_symbol | nul_symbol
    numbers: dict[str, np.ndarray] = {}
    for field_name in NUMBER_FIELDS:
        if field_name not in columns:
            numbers[field_name] = np.full(count, np.nan)
            continue
        array = columns[field_name]
        values, missing, invalid = _parse_numbers(array)
        numbers[field_name] = values
        if field_name in REQUIRED_NUMBER_FIELDS:
            problems.append(_BadRows(field_name, np.flatnonzero(missing), _fixed("missing value")))
            bad |= missing
        problems.append(_BadRows(field_name, np.flatnonzero(invalid), _number_message(array)))
        bad |= invalid

    errors, errors_total = _collect_errors(raw, problems, row_numbers, max_errors)
    parsed = ParsedFile(rows_total=raw.rows_total, errors=errors, errors_total=errors_total)
    keep = None if not bad.any() else np.flatnonzero(~bad)
    _split_frames(parsed, ts_ns, numbers, row_numbers, symbols, keep)
    return parsed


def _collect_errors(
    raw: _RawTable, problems: list[_BadRows], row_numbers: np.ndarray, max_errors: int
) -> tuple[list[RowError], int]:
    """Return the first `max_errors` errors by (row, field) and the total count."""
    total = raw.errors_total + sum(len(problem.positions) for problem in problems)
    candidates: list[tuple[int, int, int, int]] = []
    for index, problem in enumerate(problems):
        rank = _FIELD_RANK[problem.field]
        positions = problem.positions[:max_errors]
        rows = row_numbers[positions].tolist()
        candidates.extend((row, rank, index, pos) for row, pos in zip(rows, positions.tolist(), strict=True))
    structural_errors = sorted(raw.errors, key=lambda error: error.row or 0)
    candidates.extend((error.row or 0, -1, -1, 0) for error in structural_errors)
    candidates.sort(key=lambda candidate: candidate[:2])
    errors = []
    structural = iter(structural_errors)
    for row, _rank, index, position in candidates[:max_errors]:
        if index < 0:
            errors.append(next(structural))
        else:
            problem = problems[index]
            errors.append(RowError(row, problem.field, problem.message(position)))
    return errors, total


def _split_frames(
    parsed: ParsedFile,
    ts_ns: np.ndarray,
    numbers: dict[str, np.ndarray],
    row_numbers: np.ndarray,
    symbols: Column | None,
    keep: np.ndarray | None,
) -> None:
    """Fill parsed.frames/rows with good rows, one frame per symbol, sorted by ts."""
    if keep is not None:
        if keep.size == 0:
            return
        ts_ns = ts_ns[keep]
        numbers = {name: values[keep] for name, values in numbers.items()}
        row_numbers = row_numbers[keep]
        symbols = symbols.take(pa.array(keep)) if symbols is not None else None
    if symbols is None:
        sorted_already = ts_ns.size < 2 or bool((ts_ns[1:] >= ts_ns[:-1]).all())
        order = None if sorted_already else np.argsort(ts_ns, kind="stable")
        parsed.frames[None], parsed.rows[None] = _bar_frame(ts_ns, numbers, row_numbers, order)
        return
    encoded = pc.dictionary_encode(symbols.combine_chunks() if isinstance(symbols, pa.ChunkedArray) else symbols)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    order = np.lexsort((ts_ns, codes))
    bounds = np.cumsum(np.bincount(codes, minlength=len(encoded.dictionary)))
    start = 0
    for symbol, end in zip(encoded.dictionary.to_pylist(), bounds.tolist(), strict=True):
        part = order[start:end]
        parsed.frames[symbol], parsed.rows[symbol] = _bar_frame(ts_ns, numbers, row_numbers, part)
        start = end


def _bar_frame(
    ts_ns: np.ndarray,
    numbers: dict[str, np.ndarray],
    row_numbers: np.ndarray,
    order: np.ndarray | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    def pick(values: np.ndarray) -> np.ndarray:
        return values if order is None else values[order]

    ts = pd.DatetimeIndex(pick(ts_ns).view("datetime64[ns]")).tz_localize("UTC")
    columns = {"ts": ts, **{name: pick(values) for name, values in numbers.items()}}
    return pd.DataFrame(columns, copy=False), pick(row_numbers)


# --- values -------------------------------------------------------------------------


def _parse_numbers(array: Column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (float64 values, missing mask, invalid mask) for one number column."""
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        # Unsafe: integers past 2^53 (and uint64) round to the nearest float64 instead of failing.
        values = _float_values(array.cast(pa.float64(), safe=False))
        return values, np.isnan(values), np.zeros(len(array), bool)
    if pa.types.is_null(kind):
        return np.full(len(array), np.nan), np.ones(len(array), bool), np.zeros(len(array), bool)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        invalid = _valid_mask(array)
        return np.full(len(array), np.nan), ~invalid, invalid
    text = pc.utf8_trim_whitespace(array)
    try:  # most columns read as text are still all numbers: one cast, no regex
        values = _float_values(text.cast(pa.float64()))
        return values, np.isnan(values), np.zeros(len(array), bool)
    except pa.ArrowInvalid:
        pass
    missing = ~_valid_mask(text) | _to_bool(pc.is_in(pc.utf8_lower(text), value_set=_MISSING_STRINGS), False)
    looks_numeric = _to_bool(pc.match_substring_regex(text, _NUMBER_RE), False)
    values = _float_values(pc.if_else(looks_numeric, text, None).cast(pa.float64()))
    return values, missing, ~missing & ~looks_numeric


def _parse_symbols(array: Column) -> Column:
    """Return trimmed symbols as text, null where missing or blank."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        try:
            array = array.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.nulls(len(array), pa.string())
    text = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(text, ""), None, text)


def _combine_date_time(dates: Column | None, times: Column) -> Column:
    """Join a separate `date` column to a `time` column that holds times of day."""
    if dates is None:
        return times
    if pa.types.is_string(times.type) or pa.types.is_large_string(times.type):
        first = pc.utf8_trim_whitespace(times.drop_null()[:1]).to_pylist()
        if not first or not _TIME_OF_DAY_RE.match(first[0]):
            return times
    elif not (pa.types.is_time(times.type)):
        return times
    try:
        date_text = pc.utf8_trim_whitespace(dates.cast(pa.string()))
        time_text = pc.utf8_trim_whitespace(times.cast(pa.string()))
    except pa.ArrowException:  # a date column of a type without text (a list, a struct)
        return times  # times of day alone then fail as timestamps, row by row
    return pc.binary_join_element_wise(date_text, time_text, "T")


def _parse_timestamps(array: Column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (epoch ns, reason code, naive mask); naive rows hold wall time as ns."""
    count = len(array)
    kind = array.type
    if pa.types.is_date(kind):
        array, kind = array.cast(pa.timestamp("s")), pa.timestamp("s")
    if pa.types.is_timestamp(kind):
        valid = _valid_mask(array)
        values = _int_values(array.cast(pa.int64()))
        ns, reason = _scale_to_ns(values, np.full(count, _NS_PER_UNIT[kind.unit]), valid)
        return ns, reason, (reason == _TS_OK) & (kind.tz is None)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return (*_epoch_to_ns(array), np.zeros(count, bool))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _parse_timestamp_strings(array)
    valid = _valid_mask(array)
    reason = np.where(valid, _TS_UNPARSEABLE, _TS_MISSING).astype(np.uint8)
    return np.zeros(count, np.int64), reason, np.zeros(count, bool)


def _parse_timestamp_strings(array: Column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = len(array)
    text = pc.utf8_trim_whitespace(array)
    present = _to_bool(pc.not_equal(text, ""), False)
    numeric = present & _to_bool(pc.match_substring_regex(text, _NUMBER_RE), False)
    ns = np.zeros(count, np.int64)
    reason = np.where(present, _TS_UNPARSEABLE, _TS_MISSING).astype(np.uint8)
    if numeric.any():
        # Whole numbers go through int64 so nanosecond epochs keep every digit.
        integer = numeric & _to_bool(pc.match_substring_regex(text, _INTEGER_RE), False)
        for subset, kind in ((integer, pa.int64()), (numeric & ~integer, pa.float64())):
            positions = np.flatnonzero(subset)
            digits = pc.replace_substring_regex(text.take(pa.array(positions)), r"^\+", "")
            ns[positions], reason[positions] = _epoch_to_ns(digits.cast(kind))
    textual = present & ~numeric
    naive = np.zeros(count, bool)
    if textual.any():
        positions = np.flatnonzero(textual)
        strings = text.take(pa.array(positions))
        parsed = pd.to_datetime(strings.to_numpy(zero_copy_only=False), utc=True, format="ISO8601", errors="coerce")
        values = parsed.asi8
        parsed_ok = values != np.iinfo(np.int64).min
        factors = np.full(len(values), _NS_PER_UNIT[parsed.unit])
        ns[positions], reason[positions] = _scale_to_ns(values, factors, parsed_ok)
        reason[positions[~parsed_ok]] = _TS_UNPARSEABLE
        has_offset = _to_bool(pc.match_substring_regex(strings, _OFFSET_RE), False)
        naive[positions] = ~has_offset & (reason[positions] == _TS_OK)
    return ns, reason, naive


def _epoch_to_ns(array: Column) -> tuple[np.ndarray, np.ndarray]:
    """Convert epoch numbers to ns, choosing the unit per value by magnitude."""
    valid = _valid_mask(array)
    if pa.types.is_integer(array.type):
        fits = np.ones(len(array), bool)
        if array.type == pa.uint64():
            # Values past int64 are past any supported time: out of range, not a cast error.
            fits = _to_bool(pc.less_equal(array, pa.scalar(_INT64_MAX, pa.uint64())), True)
            array = pc.if_else(pa.array(fits), array, pa.scalar(0, pa.uint64()))
        values = _int_values(array.cast(pa.int64()))
        ns, reason = _scale_to_ns(values, _epoch_factors(values.astype(np.float64)), valid)
        reason[valid & ~fits] = _TS_OUT_OF_RANGE
        return ns, reason
    values = _float_values(array.cast(pa.float64(), safe=False))
    valid &= ~np.isnan(values)
    factors = _epoch_factors(values)
    in_range = valid & (np.abs(values) * factors < 9.2e18)
    safe = np.where(in_range, values, 0.0)
    whole = np.floor(safe)
    ns = whole.astype(np.int64) * factors + np.rint((safe - whole) * factors).astype(np.int64)
    reason = np.where(valid, np.where(in_range, _TS_OK, _TS_OUT_OF_RANGE), _TS_MISSING)
    return ns, reason.astype(np.uint8)


def _epoch_factors(values: np.ndarray) -> np.ndarray:
    """Return ns per unit for each epoch value: s, ms, us or ns by magnitude."""
    magnitude = np.abs(values)
    units = [magnitude < 1e11, magnitude < 1e14, magnitude < 1e17]
    return np.select(units, [10**9, 10**6, 10**3], 1).astype(np.int64)


def _scale_to_ns(values: np.ndarray, factors: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multiply by `factors` into int64 ns, flagging values outside the ns range."""
    limits = (_INT64_MAX - 10**9) // factors
    in_range = valid & (values <= limits) & (values >= -limits)
    ns = np.where(in_range, values, 0) * factors
    reason = np.where(valid, np.where(in_range, _TS_OK, _TS_OUT_OF_RANGE), _TS_MISSING)
    return ns.astype(np.int64), reason.astype(np.uint8)


def _localize(ts_ns: np.ndarray, reason: np.ndarray, naive: np.ndarray, tz: str) -> None:
    """Turn naive wall times (in place) into UTC ns; flag DST gaps and overlaps."""
    positions = np.flatnonzero(naive)
    wall = pd.DatetimeIndex(ts_ns[positions].view("datetime64[ns]"))
    try:
        local = wall.tz_localize(tz, ambiguous="infer", nonexistent="NaT")
    except ValueError:  # an ambiguous time the file order does not settle
        local = wall.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    failed = np.asarray(local.isna())
    ts_ns[positions] = local.as_unit("ns").asi8
    if failed.any():
        retry = wall[failed].tz_localize(tz, ambiguous=np.ones(int(failed.sum()), bool), nonexistent="NaT")
        codes = np.where(np.asarray(retry.isna()), _TS_NONEXISTENT, _TS_AMBIGUOUS)
        reason[positions[failed]] = codes
        ts_ns[positions[failed]] = 0


# --- messages and small helpers -----------------------------------------------------


def _show(array: Column, position: int) -> str:
    """Quote the value at `position` for a message, shortened if long."""
    try:
        text = _value_text(array[position].as_py())
    except (ValueError, OverflowError, RecursionError):  # e.g. a timestamp past year 9999
        try:
            text = str(array[position])
        except (ValueError, OverflowError):  # past what Python's datetime holds at all
            text = str(array.slice(position, 1).cast(pa.string())[0])
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _value_text(value: object) -> str:
    """Return a value as text; nested JSON values are abbreviated so any depth prints."""
    return reprlib.repr(value) if isinstance(value, list | dict) else str(value)


def _fixed(message: str) -> Callable[[int], str]:
    return lambda _position: message


def _nul_symbol_message(symbols: Column) -> Callable[[int], str]:
    return lambda position: f"invalid symbol {_show(symbols, position)}: it contains a NUL character"


def _number_message(array: Column) -> Callable[[int], str]:
    return lambda position: f"not a number: {_show(array, position)}"


def _timestamp_message(array: Column, reason: np.ndarray, tz: str | None) -> Callable[[int], str]:
    def message(position: int) -> str:
        value = _show(array, position)
        return {
            _TS_MISSING: "missing timestamp",
            _TS_UNPARSEABLE: f"cannot parse timestamp {value} (expected ISO-8601 or an epoch number)",
            _TS_OUT_OF_RANGE: f"timestamp {value} is outside the supported range: times go {SUPPORTED_TIMES}",
            _TS_AMBIGUOUS: f"ambiguous local time {value} in {tz} (DST ends); give a UTC offset",
            _TS_NONEXISTENT: f"local time {value} does not exist in {tz} (DST starts)",
        }[int(reason[position])]

    return message


def _valid_mask(array: Column) -> np.ndarray:
    if array.null_count == 0:
        return np.ones(len(array), bool)
    return pc.is_valid(array).to_numpy(zero_copy_only=False)


def _to_bool(array: Column, null_as: bool) -> np.ndarray:
    return pc.fill_null(array, null_as).to_numpy(zero_copy_only=False)


def _int_values(array: Column) -> np.ndarray:
    if array.null_count:
        array = pc.fill_null(array, 0)
    return array.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _float_values(array: Column) -> np.ndarray:
    if array.null_count:
        array = pc.fill_null(array, float("nan"))
    return array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
