"""The compact index reads back exactly what it was given, column by column."""

import math

import pytest

from src.datasets.compact_index import CompactIndex

ENTRIES = [
    {"id": "a", "path": "x/a.flac", "text": "héllo wörld", "duration": 1.5, "speaker": "s1"},
    {"id": "b", "path": "x/b.flac", "text": "", "duration": 2.0, "speaker": None},
    {"id": "c", "path": "x/c.flac", "text": "z", "duration": 3, "location": "m.jsonl:3"},
]


def test_entries_read_back_as_given():
    index = CompactIndex(ENTRIES)
    assert len(index) == 3
    assert list(index) == ENTRIES  # None kept, absent keys absent, unicode intact
    assert index[-1] == ENTRIES[-1] and index == ENTRIES
    assert index.numbers("duration").tolist() == [1.5, 2.0, 3.0]
    assert index[2]["duration"] == 3.0 and not math.isnan(index[1]["duration"])
    with pytest.raises(IndexError):
        index[3]


def test_whole_number_columns_stay_ints_and_bad_types_are_named():
    index = CompactIndex([{"n": 1}, {"n": 2}])
    assert [entry["n"] for entry in index] == [1, 2] and isinstance(index[0]["n"], int)
    with pytest.raises(TypeError, match="'speaker' mixes"):
        CompactIndex([{"speaker": "a"}, {"speaker": 3}])
    with pytest.raises(TypeError, match="holds strings"):
        CompactIndex(ENTRIES).numbers("text")


def test_an_empty_index_is_empty():
    assert len(CompactIndex([])) == 0 and list(CompactIndex([])) == []
