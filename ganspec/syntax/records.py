"""Immutable records: the syntax tree's nodes and the resolver's raw values.

What `@dataclass(frozen=True)` gives them (construction by position or keyword, equality and a hash
by their fields in order, a `Name(field=value, ...)` repr, `FrozenInstanceError` on assignment,
`_replace` for `dataclasses.replace`) without what it costs: a dataclass generates and compiles
half a dozen methods per class when its module is imported, which for the forty node and value
classes was a noticeable part of every command's start. Each class lists its fields in `__slots__`
and writes its own `__init__` (plain assignments through `object.__setattr__`, as a frozen
dataclass's generated one does).
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError

SET = object.__setattr__  # what a record's __init__ assigns with (the record itself refuses)


class Record:
    """Base of a frozen record; a subclass names its fields in `__slots__` and sets them in `__init__`."""

    __slots__ = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{self.__class__.__qualname__}({fields})"

    def __setattr__(self, name, value):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _replace(self, **changes):
        """A copy with some fields changed (what `dataclasses.replace` does for a dataclass)."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return self.__class__(**values)
