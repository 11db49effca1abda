"""Encode columns as a JSON array of records without building a Python object per row.

A year of 1-minute bars is ~100k records of 8 fields. Building one dict per record and
handing the list to a JSON encoder costs ~1 us per field; here every column is encoded
at once (orjson on the numpy array for numbers, a lookup table for times, one encoding
per distinct value for strings) and an Arrow `take` interleaves the encoded pieces with
the key literals into one buffer, the JSON text itself.

The output equals `orjson.dumps([{key: value, ...}, ...])` of the same values: floats
in their shortest round-trip form (NaN and infinities as null), integers as integers,
missing values as null, times as ISO-8601 UTC strings with `Z` (whole seconds when every
time is whole, microseconds otherwise).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

NS_PER_SECOND = 1_000_000_000
SECONDS_PER_DAY = 86_400


def records_json(table: pa.Table, *, prefix: bytes = b"", suffix: bytes = b"", threads: int | None = None) -> bytes:
    """Return `prefix` + the JSON array of the table's rows as records `{column: value}` + `suffix`.

    The interleaving `take` runs on `threads` slices of the records at once (Arrow releases
    the GIL); by default two for pages of at least `PARALLEL_MIN_RECORDS` records.
    """
    keys = table.column_names
    length = table.num_rows
    if not keys or length == 0:
        return prefix + b"[]" + suffix
    sources: list[pa.Array] = []  # the encoded pieces, concatenated before the take
    picks: list[tuple[int, np.ndarray | int]] = []  # per piece of a record: (source, row index or constant)
    literal = b",{"  # the bytes before the next value; the leading comma is dropped once at the end
    for position, key in enumerate(keys):
        literal += orjson.dumps(key) + b":"
        terminator = b"}" if position == len(keys) - 1 else b","
        column = table.column(key).combine_chunks()
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            day_index, day_table, second_index, second_table = _time_pieces(column, literal + b'"', terminator)
            picks += [(len(sources), day_index), (len(sources) + 1, second_index)]
            sources += [day_table, second_table]
        else:
            picks += [(len(sources), 0), (len(sources) + 1, np.arange(length))]
            sources += [pa.array([literal], pa.binary()), _value_pieces(column, terminator)]
        literal = b""
    starts = np.cumsum([0] + [len(source) for source in sources[:-1]])
    order = np.empty((length, len(picks)), dtype=np.int32)  # pieces < 2**31: a page holds <= 100k records
    for column, (source, index) in enumerate(picks):
        order[:, column] = starts[source] + index
    pieces = pa.concat_arrays(sources)
    if threads is None:
        threads = 2 if length >= PARALLEL_MIN_RECORDS and (os.cpu_count() or 1) > 1 else 1
    threads = max(1, min(threads, length))  # every slice holds at least one record
    bounds = [len(picks) * (length * part // threads) for part in range(threads + 1)]
    slices = [pa.array(order.ravel()[low:high]) for low, high in zip(bounds, bounds[1:], strict=False)]
    helpers = [_take_text_on_a_helper(pieces, indices) for indices in slices[1:]]
    bodies = [_take_text(pieces, slices[0]), *(helper() for helper in helpers)]
    bodies[0] = bodies[0][1:]  # the first record's leading comma
    return b"".join([prefix, b"[", *bodies, b"]", suffix])


PARALLEL_MIN_RECORDS = 20_000


_helper_pool: ThreadPoolExecutor | None = None
_helper_pool_lock = threading.Lock()


def _forget_helper_pool() -> None:
    """Drop the pool in a forked child: its threads stayed behind in the parent."""
    global _helper_pool, _helper_pool_lock
    _helper_pool, _helper_pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_helper_pool)


def _take_text_on_a_helper(pieces: pa.Array, indices: pa.Array) -> Callable[[], memoryview]:
    """Start `_take_text` on a helper thread; return what waits for its bytes.

    While the interpreter shuts down no thread can be started: the caller's thread then
    does the work when it asks for the result.
    """
    global _helper_pool
    with _helper_pool_lock:
        if _helper_pool is None:
            _helper_pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="json-records")
        pool = _helper_pool
    try:
        return pool.submit(_take_text, pieces, indices).result
    except RuntimeError:  # "cannot schedule new futures after (interpreter) shutdown"
        return functools.partial(_take_text, pieces, indices)


def _take_text(pieces: pa.Array, indices: pa.Array) -> memoryview:
    """Return the bytes of `pieces` taken in the order of `indices`, one after the other."""
    joined = pc.take(pieces, indices, boundscheck=False)
    if len(joined) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=len(joined) + 1, offset=joined.offset * 4)
    return memoryview(joined.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


def _time_pieces(
    column: pa.Array, literal: bytes, terminator: bytes
) -> tuple[np.ndarray, pa.Array, np.ndarray, pa.Array]:
    """Return the day pieces (`literal` + `YYYY-MM-DDT`) and the time-of-day pieces (`HH:MM:SS[.ffffff]Z"` + end)."""
    if column.null_count:
        raise ValueError("times must not be missing")
    if pa.types.is_date(column.type):
        column = column.cast(pa.timestamp("s"))
    ns = column.cast(pa.timestamp("ns", tz=getattr(column.type, "tz", None))).cast(pa.int64()).to_numpy()
    seconds, fraction_ns = np.divmod(ns, NS_PER_SECOND)
    days, second_of_day = np.divmod(seconds, SECONDS_PER_DAY)
    first_day, last_day = int(days.min()), int(days.max())
    dates = np.datetime_as_string(np.arange(first_day, last_day + 1).astype("datetime64[D]"))
    day_table = pa.array([literal + date.encode() + b"T" for date in dates.tolist()], pa.binary())
    end = b'Z"' + terminator
    if not fraction_ns.any():
        return days - first_day, day_table, second_of_day, _clock_table(end)
    # Microseconds for every time (as the per-row encoder does when any time has a fraction).
    micros = fraction_ns // 1000
    fraction = np.empty((len(micros), 7), dtype=np.uint8)
    fraction[:, 0] = ord(".")
    for column_index in range(6, 0, -1):
        micros, digit = np.divmod(micros, 10)
        fraction[:, column_index] = ord("0") + digit
    clock = _fixed_width(np.hstack([_clock_bytes(second_of_day), fraction]), end)
    return days - first_day, day_table, np.arange(len(second_of_day)), clock


@functools.lru_cache(maxsize=8)
def _clock_table(end: bytes) -> pa.Array:
    """Return `HH:MM:SS` + `end` for every second of a day, indexed by second of day."""
    return _fixed_width(_clock_bytes(np.arange(SECONDS_PER_DAY)), end)


def _clock_bytes(second_of_day: np.ndarray) -> np.ndarray:
    hours, rest = np.divmod(second_of_day, 3600)
    minutes, seconds = np.divmod(rest, 60)
    text = np.empty((len(second_of_day), 8), dtype=np.uint8)
    for column, number in ((0, hours), (3, minutes), (6, seconds)):
        text[:, column] = ord("0") + number // 10
        text[:, column + 1] = ord("0") + number % 10
    text[:, 2] = text[:, 5] = ord(":")
    return text


def _fixed_width(text: np.ndarray, end: bytes) -> pa.Array:
    """Return a binary array of the rows of a uint8 matrix, each followed by `end`."""
    rows, width = text.shape
    full = np.empty((rows, width + len(end)), dtype=np.uint8)
    full[:, :width] = text
    full[:, width:] = np.frombuffer(end, dtype=np.uint8)
    offsets = np.arange(0, full.size + 1, full.shape[1], dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(full.tobytes())])


def _value_pieces(column: pa.Array, terminator: bytes) -> pa.Array:
    """Return each value's JSON text followed by `terminator` (a `,` or the record's closing `}`)."""
    kind = column.type
    if pa.types.is_floating(kind):  # a null reads as NaN, which JSON writes as null
        return _numeric_pieces(column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False), terminator)
    if (pa.types.is_integer(kind) or pa.types.is_boolean(kind)) and column.null_count == 0:
        return _numeric_pieces(column.to_numpy(zero_copy_only=False), terminator)
    if pa.types.is_integer(kind):
        text = pc.fill_null(pc.cast(column, pa.string()), "null").cast(pa.binary())
        return pc.binary_join_element_wise(text, pa.scalar(terminator, pa.binary()), b"")
    return _distinct_pieces(column, terminator)


def _numeric_pieces(array: np.ndarray, terminator: bytes) -> pa.Array:
    """Encode a numeric column with orjson once and cut the text after its separators.

    A zero is appended to the column so that every real value is followed by a comma;
    with `,` as the terminator the pieces are orjson's own bytes, without a copy.
    """
    padded = np.empty(len(array) + 1, dtype=array.dtype)
    padded[:-1] = array
    padded[-1] = 0
    text = np.frombuffer(orjson.dumps(padded, option=orjson.OPT_SERIALIZE_NUMPY), np.uint8)
    commas = np.flatnonzero(text == ord(","))  # one after each real value; the padding ends at "]"
    if terminator != b",":
        text = text.copy()
        text[commas] = ord(terminator)
    offsets = np.empty(len(array) + 1, dtype=np.int32)
    offsets[0] = 1
    offsets[1:] = commas + 1
    return pa.Array.from_buffers(pa.binary(), len(array), [None, pa.py_buffer(offsets), pa.py_buffer(text)])


def _distinct_pieces(column: pa.Array, terminator: bytes) -> pa.Array:
    """Encode each distinct value once (strings, missing values) and repeat it by index."""
    encoded = column.dictionary_encode()
    texts = [orjson.dumps(value) + terminator for value in encoded.dictionary.to_pylist()]
    indices = pc.fill_null(encoded.indices, len(texts))
    return pa.array([*texts, b"null" + terminator], pa.binary()).take(indices)
