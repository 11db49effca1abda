import datetime as dt
import json

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.core.json_records import records_json

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
NS_1900 = -2_208_988_800 * 10**9
NS_2200 = 7_258_118_400 * 10**9


def iso(ns: int, fractional: bool) -> str:
    """The reference time text: Python's own datetime arithmetic, microseconds when any time has them."""
    moment = EPOCH + dt.timedelta(microseconds=ns // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f" if fractional else "%Y-%m-%dT%H:%M:%S") + "Z"


def reference(columns: dict[str, list], times: set[str]) -> bytes:
    """orjson over one dict per record: what the column encoder must equal byte for byte."""
    values = dict(columns)
    for name in times:
        fractional = any(ns % 10**9 for ns in columns[name])
        values[name] = [iso(ns, fractional) for ns in columns[name]]
    keys = list(values)
    rows = [dict(zip(keys, row, strict=True)) for row in zip(*values.values(), strict=True)]
    return orjson.dumps(rows)


floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1e16, 1e-7, 100.0, 5e-324])
integers = st.integers(min_value=-(2**63), max_value=2**63 - 1)
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=6) | st.sampled_from(["", "buy", "sell", 'a"b', "x,y"])
instants = st.integers(min_value=NS_1900, max_value=NS_2200)
whole_seconds = st.integers(min_value=NS_1900 // 10**9, max_value=NS_2200 // 10**9).map(lambda s: s * 10**9)


@st.composite
def tables(draw):
    length = draw(st.integers(min_value=1, max_value=40))
    kinds = draw(st.lists(st.sampled_from(["f", "i", "i?", "s", "t", "ts", "b"]), min_size=1, max_size=6))
    columns, arrays, times = {}, {}, set()
    for position, kind in enumerate(kinds):
        name = f"{kind}{position}"
        if kind == "f":
            values = draw(st.lists(floats, min_size=length, max_size=length))
            arrays[name] = pa.array(np.array(values, dtype=np.float64))
            columns[name] = values
        elif kind in ("i", "i?"):
            values = draw(
                st.lists(integers | st.none() if kind == "i?" else integers, min_size=length, max_size=length)
            )
            arrays[name] = pa.array(values, pa.int64())
            columns[name] = values
        elif kind == "s":
            values = draw(st.lists(texts | st.none(), min_size=length, max_size=length))
            arrays[name] = pa.array(values, pa.string())
            columns[name] = values
        elif kind == "b":
            values = draw(st.lists(st.booleans(), min_size=length, max_size=length))
            arrays[name] = pa.array(values, pa.bool_())
            columns[name] = values
        else:
            values = draw(st.lists(instants if kind == "t" else whole_seconds, min_size=length, max_size=length))
            arrays[name] = pa.array(np.array(values, dtype="datetime64[ns]"), pa.timestamp("ns", tz="UTC"))
            columns[name] = values
            times.add(name)
    return pa.table(arrays), columns, times


@settings(max_examples=300, deadline=None)
@given(tables(), st.sampled_from([None, 1, 2, 3]))
def test_records_equal_orjson_of_one_dict_per_record(case, threads):
    """`threads`: the interleaving split across helper threads, even with fewer records than threads."""
    table, columns, times = case
    assert records_json(table, threads=threads) == reference(columns, times)


def test_bars_encode_like_the_per_record_encoder_and_parse_back():
    rng = np.random.default_rng(3)
    count = 1000
    ts = np.datetime64("2024-03-08T14:30", "ns") + np.arange(count) * np.timedelta64(60, "s")
    close = 100 + np.cumsum(rng.normal(0, 0.05, count))
    trades = rng.integers(1, 500, count).astype(object)
    trades[::7] = None
    table = pa.table(
        {
            "t": pa.array(ts, pa.timestamp("ns", tz="UTC")),
            "o": close,
            "c": close.round(2),
            "v": rng.integers(0, 10_000, count).astype(np.float64),
            "n": pa.array(list(trades), pa.int64()),
            "vwap": np.where(np.arange(count) % 5 == 0, np.nan, close),
        }
    )
    body = records_json(table, prefix=b'{"bars":', suffix=b',"next":null}')
    parsed = json.loads(body)
    assert parsed["next"] is None
    assert len(parsed["bars"]) == count
    first = parsed["bars"][0]
    assert first == {"t": "2024-03-08T14:30:00Z", "o": close[0], "c": round(close[0], 2), "v": first["v"], "n": None,
                     "vwap": None}  # fmt: skip
    assert [bar["o"] for bar in parsed["bars"]] == close.tolist()
    assert isinstance(parsed["bars"][1]["v"], float)  # 4565.0 stays a float, as orjson writes it


def test_empty_and_single_column_tables():
    assert records_json(pa.table({"x": pa.array([], pa.float64())}), prefix=b"[", suffix=b"]") == b"[[]]"
    assert records_json(pa.table({"x": [1.5]})) == b'[{"x":1.5}]'


def test_missing_times_are_refused():
    table = pa.table({"t": pa.array([0, None], pa.timestamp("ns", tz="UTC"))})
    with pytest.raises(ValueError, match="times must not be missing"):
        records_json(table)


HELPER_THREADS_AFTER_FORK_AND_AT_SHUTDOWN = """
import atexit, os, signal, sys
import numpy as np, orjson, pyarrow as pa
from marketdata.core.json_records import records_json

table = pa.table({"x": np.arange(30_000, dtype=float)})
expected = orjson.dumps([{"x": float(x)} for x in range(30_000)])
assert records_json(table, threads=2) == expected  # the parent's helper threads now exist
child = os.fork()
if child == 0:
    signal.alarm(10)  # a hang ends the child with SIGALRM
    os._exit(0 if records_json(table, threads=2) == expected else 1)
_, status = os.waitpid(child, 0)
print("forked child:", os.waitstatus_to_exitcode(status))
atexit.register(lambda: print("at exit:", records_json(table, threads=2) == expected, flush=True))
"""


def test_helper_threads_work_in_a_forked_child_and_during_shutdown():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", HELPER_THREADS_AFTER_FORK_AND_AT_SHUTDOWN],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["forked child: 0", "at exit: True"], result.stderr
