"""Syntax tree of a .gan file: one small node type per grammar rule, each with its span.

The tree keeps the source text of numbers so the formatter can print `7*7*256` or
`2e-4` exactly as written; evaluation happens later, in `ganspec.resolve`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ganspec.diagnostics import Span


@dataclass(frozen=True, slots=True)
class Number:
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class String:
    text: str  # with its quotes, as written
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Paren:
    expr: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Arg:
    name: str | None  # None for a positional argument
    value: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Arg, ...]
    span: Span
    parens: bool = True  # False for a bare name used as a call (`batchnorm`)


Expr = Union[Number, String, Symbol, BinOp, Unary, Paren, ListExpr, Call]


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Block:
    items: tuple[Union["Setting", Let], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Setting:
    path: tuple[str, ...]
    value: Union[Expr, Block]
    span: Span
    path_span: Span


@dataclass(frozen=True, slots=True)
class Layer:
    call: Call
    span: Span


@dataclass(frozen=True, slots=True)
class Repeat:
    count: Expr
    body: "LayerBlock"
    span: Span


@dataclass(frozen=True, slots=True)
class Wrapper:
    call: Call
    body: "LayerBlock"
    span: Span


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a block definition; `default` is None when the parameter is required."""

    name: str
    default: "Expr | None"
    span: Span


@dataclass(frozen=True, slots=True)
class BlockDef:
    """`block name(params) { layers }`: a reusable, parameterised layer stack."""

    name: str
    params: tuple[Param, ...]
    body: "LayerBlock"
    span: Span
    name_span: Span
    parens: bool = True  # False for `block name { ... }`


LayerItem = Union[Layer, Repeat, Wrapper, Let, BlockDef]


@dataclass(frozen=True, slots=True)
class LayerBlock:
    items: tuple[LayerItem, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Network:
    role: str  # generator | critic | discriminator
    options: tuple[Arg, ...] | None
    body: LayerBlock
    span: Span


Statement = Union[Setting, Network, Let, BlockDef]


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    extends: String | None
    items: tuple[Statement, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Comment:
    text: str
    line: int
    column: int
    pos: int


@dataclass(frozen=True, slots=True)
class Document:
    """A whole parsed file."""

    file: str
    source: str
    before: tuple[Let | BlockDef, ...]
    experiment: Experiment
    after: tuple[Let, ...]
    comments: tuple[Comment, ...] = field(default=())
