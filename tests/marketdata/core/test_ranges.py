import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from marketdata.core.ranges import intersect_ranges, merge_ranges, split_range, subtract_ranges

T0 = pd.Timestamp("2024-01-01T00:00Z")


def t(minutes: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minutes)


def test_merge_joins_overlapping_and_touching_ranges():
    assert merge_ranges([(t(5), t(10)), (t(0), t(5)), (t(20), t(30)), (t(25), t(26))]) == [
        (t(0), t(10)),
        (t(20), t(30)),
    ]


def test_subtract_leaves_the_holes():
    assert subtract_ranges((t(0), t(100)), [(t(10), t(20)), (t(50), t(120))]) == [(t(0), t(10)), (t(20), t(50))]


def test_subtract_fully_covered_is_empty_and_uncovered_is_whole():
    assert subtract_ranges((t(10), t(20)), [(t(0), t(30))]) == []
    assert subtract_ranges((t(10), t(20)), []) == [(t(10), t(20))]


def test_widened_range_misses_only_the_new_part():
    assert subtract_ranges((t(0), t(60)), [(t(0), t(30))]) == [(t(30), t(60))]


def test_split_range_pieces_cover_the_span():
    assert split_range((t(0), t(25)), pd.Timedelta(minutes=10)) == [(t(0), t(10)), (t(10), t(20)), (t(20), t(25))]


spans = st.tuples(st.integers(0, 200), st.integers(1, 50)).map(lambda p: (t(p[0]), t(p[0] + p[1])))


@given(wanted=spans, covered=st.lists(spans, max_size=6))
def test_missing_and_covered_partition_the_wanted_range(wanted, covered):
    missing = subtract_ranges(wanted, covered)
    present = intersect_ranges(wanted, covered)

    def minutes(ranges) -> set[int]:
        step = pd.Timedelta(minutes=1)
        return {m for s, e in ranges for m in range(int((s - T0) / step), int((e - T0) / step))}

    want = minutes([wanted])
    assert minutes(missing) | minutes(present) == want
    assert not minutes(missing) & minutes(present)
    assert not minutes(missing) & minutes(covered)
