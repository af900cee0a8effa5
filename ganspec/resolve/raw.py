"""Evaluated, untyped values of a spec: what the syntax tree means before typing.

Expressions are computed, variables substituted and dotted paths expanded into a
tree of blocks. `extends` merges these trees (a child's blocks merge into its
parent's; any other value replaces). Every value keeps its span for diagnostics.
"""

from __future__ import annotations

from typing import Any, Union

from ganspec.diagnostics import Span
from ganspec.syntax.records import SET, Record


class RVal(Record):
    """A scalar: number, string, bool, None, or a bare name (`symbol=True`)."""

    __slots__ = ("value", "span", "symbol")
    value: Any
    span: Span
    symbol: bool

    def __init__(self, value, span, symbol=False):
        SET(self, "value", value)
        SET(self, "span", span)
        SET(self, "symbol", symbol)


class RList(Record):
    __slots__ = ("items", "span")
    items: tuple[RValue, ...]
    span: Span

    def __init__(self, items, span):
        SET(self, "items", items)
        SET(self, "span", span)


class RCall(Record):
    """`name(args, key: value)`. `overrides` holds values set later by a dotted path."""

    __slots__ = ("name", "args", "kwargs", "span", "overrides", "name_span")
    name: str
    args: tuple[RValue, ...]
    kwargs: dict[str, RValue]
    span: Span
    overrides: dict[str, RValue]
    name_span: Span | None

    def __init__(self, name, args, kwargs, span, overrides=None, name_span=None):
        SET(self, "name", name)
        SET(self, "args", args)
        SET(self, "kwargs", kwargs)
        SET(self, "span", span)
        SET(self, "overrides", {} if overrides is None else overrides)
        SET(self, "name_span", name_span)


class RRepeat(Record):
    __slots__ = ("count", "body", "span")
    count: RValue
    body: RLayers
    span: Span

    def __init__(self, count, body, span):
        SET(self, "count", count)
        SET(self, "body", body)
        SET(self, "span", span)


class RWrapper(Record):
    __slots__ = ("call", "body", "span")
    call: RCall
    body: RLayers
    span: Span

    def __init__(self, call, body, span):
        SET(self, "call", call)
        SET(self, "body", body)
        SET(self, "span", span)


class RLayers(Record):
    __slots__ = ("items", "span")
    items: tuple[RCall | RRepeat | RWrapper, ...]
    span: Span

    def __init__(self, items, span):
        SET(self, "items", items)
        SET(self, "span", span)


class RBlock(Record):
    """A block of settings; the one mutable raw value (`extends` merges into it in place)."""

    __slots__ = ("entries", "span", "key_spans")
    entries: dict[str, RValue]
    span: Span
    key_spans: dict[str, Span]

    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__
    __hash__ = None  # mutable, so unhashable (as a dataclass with eq and without frozen)

    def __init__(self, entries, span, key_spans=None):
        self.entries = entries
        self.span = span
        self.key_spans = {} if key_spans is None else key_spans


class RBlockDef(Record):
    """A `block name(params) { ... }` definition: expanded where it is used, in the scope it was defined in
    (`env`, shared, so variables defined later in that scope are seen too) with its parameters bound."""

    __slots__ = ("definition", "env", "span")
    definition: Any  # ganspec.syntax.ast.BlockDef
    env: dict
    span: Span

    __eq__ = object.__eq__  # the same definition only: compared by identity
    __hash__ = object.__hash__

    def __init__(self, definition, env, span):
        SET(self, "definition", definition)
        SET(self, "env", env)
        SET(self, "span", span)


RValue = Union[RVal, RList, RCall, RLayers, RBlock, RBlockDef]


def merge(parent: RValue, child: RValue) -> RValue:
    """Deep-merge `child` over `parent`: blocks merge key by key, a block over a call
    overrides that call's arguments, anything else replaces."""
    if isinstance(parent, RBlock) and isinstance(child, RBlock):
        entries = dict(parent.entries)
        key_spans = dict(parent.key_spans)
        for key, value in child.entries.items():
            entries[key] = merge(entries[key], value) if key in entries else value
            if key in child.key_spans:
                key_spans[key] = child.key_spans[key]
        return RBlock(entries, child.span, key_spans)
    if isinstance(parent, RCall) and isinstance(child, RBlock):
        overrides = dict(parent.overrides)
        for key, value in child.entries.items():
            if key in overrides:
                value = merge(overrides[key], value)
            elif key in parent.kwargs:
                value = merge(parent.kwargs[key], value)
            overrides[key] = value
        return parent._replace(overrides=overrides)
    return child


def bare_call(value: RVal) -> RCall:
    """A bare name written as a value (`relu`, `objective hinge`) read as the call without arguments."""
    return RCall(value.value, (), {}, value.span, {}, value.span)


def plain(value: RValue) -> Any:
    """The Python value of a raw value (for messages and plain fields)."""
    if isinstance(value, RVal):
        return value.value
    if isinstance(value, RList):
        return [plain(v) for v in value.items]
    if isinstance(value, RCall):
        return value.name
    if isinstance(value, RBlockDef):
        return value.definition.name
    return value
