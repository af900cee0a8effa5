"""Syntax tree of a .gan file: one small node type per grammar rule, each with its span.

The tree keeps the source text of numbers so the formatter can print `7*7*256` or
`2e-4` exactly as written; evaluation happens later, in `ganspec.resolve`.

Nodes are frozen records (`ganspec.syntax.records`): compared and hashed by their fields,
never changed after the parser makes them.
"""

from __future__ import annotations

from typing import Union

from ganspec.diagnostics import Span
from ganspec.syntax.records import SET, Record


class Number(Record):
    __slots__ = ("text", "span")
    text: str
    span: Span

    def __init__(self, text, span):
        SET(self, "text", text)
        SET(self, "span", span)


class String(Record):
    __slots__ = ("text", "value", "span")
    text: str  # with its quotes, as written
    value: str
    span: Span

    def __init__(self, text, value, span):
        SET(self, "text", text)
        SET(self, "value", value)
        SET(self, "span", span)


class Symbol(Record):
    __slots__ = ("name", "span")
    name: str
    span: Span

    def __init__(self, name, span):
        SET(self, "name", name)
        SET(self, "span", span)


class BinOp(Record):
    __slots__ = ("op", "left", "right", "span")
    op: str
    left: Expr
    right: Expr
    span: Span

    def __init__(self, op, left, right, span):
        SET(self, "op", op)
        SET(self, "left", left)
        SET(self, "right", right)
        SET(self, "span", span)


class Unary(Record):
    __slots__ = ("op", "operand", "span")
    op: str
    operand: Expr
    span: Span

    def __init__(self, op, operand, span):
        SET(self, "op", op)
        SET(self, "operand", operand)
        SET(self, "span", span)


class Paren(Record):
    __slots__ = ("expr", "span")
    expr: Expr
    span: Span

    def __init__(self, expr, span):
        SET(self, "expr", expr)
        SET(self, "span", span)


class ListExpr(Record):
    __slots__ = ("items", "span")
    items: tuple[Expr, ...]
    span: Span

    def __init__(self, items, span):
        SET(self, "items", items)
        SET(self, "span", span)


class Arg(Record):
    __slots__ = ("name", "value", "span")
    name: str | None  # None for a positional argument
    value: Expr
    span: Span

    def __init__(self, name, value, span):
        SET(self, "name", name)
        SET(self, "value", value)
        SET(self, "span", span)


class Call(Record):
    __slots__ = ("name", "args", "span", "parens")
    name: str
    args: tuple[Arg, ...]
    span: Span
    parens: bool  # False for a bare name used as a call (`batchnorm`)

    def __init__(self, name, args, span, parens=True):
        SET(self, "name", name)
        SET(self, "args", args)
        SET(self, "span", span)
        SET(self, "parens", parens)


Expr = Union[Number, String, Symbol, BinOp, Unary, Paren, ListExpr, Call]


class Let(Record):
    __slots__ = ("name", "value", "span")
    name: str
    value: Expr
    span: Span

    def __init__(self, name, value, span):
        SET(self, "name", name)
        SET(self, "value", value)
        SET(self, "span", span)


class Block(Record):
    __slots__ = ("items", "span")
    items: tuple[Setting | Let, ...]
    span: Span

    def __init__(self, items, span):
        SET(self, "items", items)
        SET(self, "span", span)


class Setting(Record):
    __slots__ = ("path", "value", "span", "path_span")
    path: tuple[str, ...]
    value: Expr | Block
    span: Span
    path_span: Span

    def __init__(self, path, value, span, path_span):
        SET(self, "path", path)
        SET(self, "value", value)
        SET(self, "span", span)
        SET(self, "path_span", path_span)


class Layer(Record):
    __slots__ = ("call", "span")
    call: Call
    span: Span

    def __init__(self, call, span):
        SET(self, "call", call)
        SET(self, "span", span)


class Repeat(Record):
    __slots__ = ("count", "body", "span")
    count: Expr
    body: LayerBlock
    span: Span

    def __init__(self, count, body, span):
        SET(self, "count", count)
        SET(self, "body", body)
        SET(self, "span", span)


class Wrapper(Record):
    __slots__ = ("call", "body", "span")
    call: Call
    body: LayerBlock
    span: Span

    def __init__(self, call, body, span):
        SET(self, "call", call)
        SET(self, "body", body)
        SET(self, "span", span)


class Param(Record):
    """One parameter of a block definition; `default` is None when the parameter is required."""

    __slots__ = ("name", "default", "span")
    name: str
    default: Expr | None
    span: Span

    def __init__(self, name, default, span):
        SET(self, "name", name)
        SET(self, "default", default)
        SET(self, "span", span)


class BlockDef(Record):
    """`block name(params) { layers }`: a reusable, parameterised layer stack."""

    __slots__ = ("name", "params", "body", "span", "name_span", "parens")
    name: str
    params: tuple[Param, ...]
    body: LayerBlock
    span: Span
    name_span: Span
    parens: bool  # False for `block name { ... }`

    def __init__(self, name, params, body, span, name_span, parens=True):
        SET(self, "name", name)
        SET(self, "params", params)
        SET(self, "body", body)
        SET(self, "span", span)
        SET(self, "name_span", name_span)
        SET(self, "parens", parens)


LayerItem = Union[Layer, Repeat, Wrapper, Let, BlockDef]


class LayerBlock(Record):
    __slots__ = ("items", "span")
    items: tuple[LayerItem, ...]
    span: Span

    def __init__(self, items, span):
        SET(self, "items", items)
        SET(self, "span", span)


class Network(Record):
    __slots__ = ("role", "options", "body", "span")
    role: str  # generator | critic | discriminator
    options: tuple[Arg, ...] | None
    body: LayerBlock
    span: Span

    def __init__(self, role, options, body, span):
        SET(self, "role", role)
        SET(self, "options", options)
        SET(self, "body", body)
        SET(self, "span", span)


Statement = Union[Setting, Network, Let, BlockDef]


class Experiment(Record):
    __slots__ = ("name", "extends", "items", "span", "name_span")
    name: str
    extends: String | None
    items: tuple[Statement, ...]
    span: Span
    name_span: Span

    def __init__(self, name, extends, items, span, name_span):
        SET(self, "name", name)
        SET(self, "extends", extends)
        SET(self, "items", items)
        SET(self, "span", span)
        SET(self, "name_span", name_span)


class Comment(Record):
    __slots__ = ("text", "line", "column", "pos")
    text: str
    line: int
    column: int
    pos: int

    def __init__(self, text, line, column, pos):
        SET(self, "text", text)
        SET(self, "line", line)
        SET(self, "column", column)
        SET(self, "pos", pos)


class Document(Record):
    """A whole parsed file."""

    __slots__ = ("file", "source", "before", "experiment", "after", "comments")
    file: str
    source: str
    before: tuple[Let | BlockDef, ...]
    experiment: Experiment
    after: tuple[Let, ...]
    comments: tuple[Comment, ...]

    def __init__(self, file, source, before, experiment, after, comments=()):
        SET(self, "file", file)
        SET(self, "source", source)
        SET(self, "before", before)
        SET(self, "experiment", experiment)
        SET(self, "after", after)
        SET(self, "comments", comments)
