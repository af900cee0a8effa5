"""Evaluated, untyped values of a spec: what the syntax tree means before typing.

Expressions are computed, variables substituted and dotted paths expanded into a
tree of blocks. `extends` merges these trees (a child's blocks merge into its
parent's; any other value replaces). Every value keeps its span for diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Union

from ganspec.diagnostics import Span


@dataclass(frozen=True)
class RVal:
    """A scalar: number, string, bool, None, or a bare name (`symbol=True`)."""

    value: Any
    span: Span
    symbol: bool = False


@dataclass(frozen=True)
class RList:
    items: tuple["RValue", ...]
    span: Span


@dataclass(frozen=True)
class RCall:
    """`name(args, key: value)`. `overrides` holds values set later by a dotted path."""

    name: str
    args: tuple["RValue", ...]
    kwargs: dict[str, "RValue"]
    span: Span
    overrides: dict[str, "RValue"] = field(default_factory=dict)
    name_span: Span | None = None


@dataclass(frozen=True)
class RRepeat:
    count: "RValue"
    body: "RLayers"
    span: Span


@dataclass(frozen=True)
class RWrapper:
    call: RCall
    body: "RLayers"
    span: Span


@dataclass(frozen=True)
class RLayers:
    items: tuple[Union[RCall, RRepeat, RWrapper], ...]
    span: Span


@dataclass
class RBlock:
    entries: dict[str, "RValue"]
    span: Span
    key_spans: dict[str, Span] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RBlockDef:
    """A `block name(params) { ... }` definition: expanded where it is used, in the scope it was defined in
    (`env`, shared, so variables defined later in that scope are seen too) with its parameters bound."""

    definition: Any  # ganspec.syntax.ast.BlockDef
    env: dict
    span: Span


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
        return replace(parent, overrides=overrides)
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
