"""A read-only view of a slice of a sorted sequence, shared by the simulators' page indexes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload


class Window(Sequence[Any]):
    """`items[lo:hi]` (reversed if asked) without copying it: `paged` only slices one page out and asks its length."""

    def __init__(self, items: Sequence[Any], lo: int, hi: int, reverse: bool = False) -> None:
        self.items, self.lo, self.hi, self.reverse = items, lo, max(lo, hi), reverse

    def __len__(self) -> int:
        return self.hi - self.lo

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            if stop <= start:
                return []
            if self.reverse:
                return list(reversed(self.items[self.hi - stop : self.hi - start]))
            return list(self.items[self.lo + start : self.lo + stop])
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(index)
        return self.items[self.hi - 1 - index] if self.reverse else self.items[self.lo + index]

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))
