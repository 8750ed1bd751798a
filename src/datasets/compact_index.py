"""An utterance index held in a few numpy arrays instead of a list of dicts.

A list of 281,241 dicts (LibriSpeech 960 h) is millions of Python objects; every DataLoader
worker that reads an entry touches their reference counts, so the pages holding them are
copied into each worker (copy-on-read after fork) and host memory grows with the number of
workers. Here each column is one array: numbers in a float64 array, strings as one UTF-8 byte
buffer plus offsets. Reading an entry touches only these few array objects, so the buffers stay
shared between the main process and every worker (`python -m bench.index` measures it).
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

Entry = dict[str, Any]


class StringColumn:
    """Strings (or None) as one UTF-8 buffer, offsets into it and a mask of the Nones."""

    def __init__(self, values: Sequence[str | None]) -> None:
        encoded = [b"" if value is None else value.encode("utf-8") for value in values]
        lengths = np.fromiter((len(item) for item in encoded), dtype=np.int64, count=len(encoded))
        self.offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        self.buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self.missing = np.fromiter((value is None for value in values), dtype=bool)

    def __getitem__(self, position: int) -> str | None:
        if self.missing[position]:
            return None
        start, end = self.offsets[position], self.offsets[position + 1]
        return self.buffer[start:end].tobytes().decode("utf-8")

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes + self.offsets.nbytes + self.missing.nbytes


class NumberColumn:
    """Numbers (or None) as float64, with a mask of the Nones; ints come back as ints."""

    def __init__(self, values: Sequence[float | int | None]) -> None:
        self.values = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        self.missing = np.fromiter((value is None for value in values), dtype=bool)
        self.integral = all(isinstance(v, int) and not isinstance(v, bool) for v in values)

    def __getitem__(self, position: int) -> float | int | None:
        if self.missing[position]:
            return None
        value = self.values[position]
        return int(value) if self.integral else float(value)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + self.missing.nbytes


def _column(key: str, values: list[Any]) -> StringColumn | NumberColumn:
    present = [value for value in values if value is not None]
    if all(isinstance(value, str) for value in present):
        return StringColumn(values)
    if all(isinstance(value, int | float) and not isinstance(value, bool) for value in present):
        return NumberColumn(values)
    kinds = sorted({type(value).__name__ for value in present})
    raise TypeError(f"index column {key!r} mixes or holds unsupported types: {kinds}")


class CompactIndex(Sequence[Entry]):
    """A read-only sequence of entries (dicts of strings and numbers) stored by column; an
    entry lacking a key reads back without it."""

    def __init__(self, entries: Sequence[Mapping[str, Any]]) -> None:
        keys = list(dict.fromkeys(key for entry in entries for key in entry))
        self._length = len(entries)
        self._columns = {key: _column(key, [entry.get(key) for entry in entries]) for key in keys}
        # keys some entries lack (rather than hold None for) are left out of those entries
        self._absent = {
            key: np.fromiter((key not in entry for entry in entries), dtype=bool)
            for key in keys
            if any(key not in entry for entry in entries)
        }

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, position: int) -> Entry:  # type: ignore[override]
        if not -self._length <= position < self._length:
            raise IndexError(f"index entry {position} out of range ({self._length})")
        position %= max(self._length, 1)
        return {
            key: column[position]
            for key, column in self._columns.items()
            if key not in self._absent or not self._absent[key][position]
        }

    def __iter__(self) -> Iterator[Entry]:
        return (self[position] for position in range(self._length))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def numbers(self, key: str) -> np.ndarray:
        """A number column as one float64 array (NaN where missing)."""
        column = self._columns[key]
        if not isinstance(column, NumberColumn):
            raise TypeError(f"index column {key!r} holds strings, not numbers")
        return column.values

    @property
    def nbytes(self) -> int:
        """Bytes held by the column arrays."""
        return sum(column.nbytes for column in self._columns.values())
