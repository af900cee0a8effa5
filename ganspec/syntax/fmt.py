"""Canonical formatting of .gan files: keeps every comment, changes no meaning, settles in one pass.

Layout: two-space indent; one setting per line; blocks always open on their own line;
layers that were written on one line stay together on one line; one blank line
where the source had one or more; expressions spaced canonically; numbers and
strings exactly as written. Comments inside a construct printed on one line move
to the line before it.
"""

from __future__ import annotations

import re

from ganspec.syntax import ast
from ganspec.syntax.parser import parse

INDENT = "  "


def format_text(text: str, file: str = "<string>") -> str:
    """Format source text; raises SpecError if it does not parse."""
    return Formatter(parse(text, file)).render()


class Formatter:
    def __init__(self, doc: ast.Document):
        self.doc = doc
        self.source = doc.source
        self.comments = sorted(doc.comments, key=lambda c: c.pos)
        self.next_comment = 0
        self.lines: list[str] = []

    # comments ------------------------------------------------------------------------------
    def _take_before(self, pos: int) -> list[ast.Comment]:
        taken = []
        while self.next_comment < len(self.comments) and self.comments[self.next_comment].pos < pos:
            taken.append(self.comments[self.next_comment])
            self.next_comment += 1
        return taken

    def _take_trailing(self, span, next_start: int | None) -> str:
        if self.next_comment < len(self.comments):
            c = self.comments[self.next_comment]
            if c.line == span.end_line and c.pos >= span.end_pos and (next_start is None or c.pos < next_start):
                self.next_comment += 1
                return "  " + c.text.rstrip()
        return ""

    def _blank_before(self, prev_end: int | None, start: int) -> bool:
        if prev_end is None:
            return False
        first = start
        if self.next_comment < len(self.comments) and self.comments[self.next_comment].pos < start:
            first = self.comments[self.next_comment].pos
        return re.search(r"\n[ \t\r]*\n", self.source[prev_end:first]) is not None

    def _emit(self, depth: int, text: str) -> None:
        self.lines.append(INDENT * depth + text if text else "")

    def _blank(self) -> None:
        """One blank line, never two, and none at the start of a file or block."""
        if self.lines and self.lines[-1] != "" and not self.lines[-1].endswith("{"):
            self.lines.append("")

    def _leading(self, depth: int, end_pos: int, start: int | None = None) -> None:
        """Comments before `end_pos`, keeping blank lines between them and before `start`."""
        taken = self._take_before(end_pos)
        for i, c in enumerate(taken):
            if i and re.search(r"\n[ \t\r]*\n", self.source[taken[i - 1].pos:c.pos]):
                self._blank()
            self._emit(depth, c.text.rstrip())
        if taken and start is not None and start > taken[-1].pos:
            if re.search(r"\n[ \t\r]*\n", self.source[taken[-1].pos:start]):
                self._blank()

    # document ------------------------------------------------------------------------------
    def render(self) -> str:
        doc = self.doc
        exp = doc.experiment
        prev_end = None
        for let in doc.before:
            self._statement(let, 0, prev_end, exp.span.start_pos)
            prev_end = let.span.end_pos
        if doc.before:
            self._leading(0, exp.span.start_pos)
            self._blank()
        else:
            self._leading(0, exp.span.start_pos, exp.span.start_pos)
        header = f"experiment {exp.name}"
        if exp.extends is not None:
            header += f" extends {exp.extends.text}"
        first_child = exp.items[0].span.start_pos if exp.items else exp.span.end_pos - 1
        self._emit(0, header + " {" + self._take_trailing_header(exp.span.line, first_child))
        self._children(exp.items, 1, exp.span)
        self._emit(0, "}" + self._take_trailing(exp.span, None if not doc.after else doc.after[0].span.start_pos))
        prev_end = exp.span.end_pos
        for i, let in enumerate(doc.after):
            if i == 0:
                self._blank()
            self._statement(let, 0, prev_end if i else None, None)
            prev_end = let.span.end_pos
        for c in self._take_before(len(self.source) + 1):
            self._emit(0, c.text.rstrip())
        return "\n".join(self.lines).rstrip("\n") + "\n"

    def _take_trailing_header(self, line: int, first_child: int) -> str:
        if self.next_comment < len(self.comments):
            c = self.comments[self.next_comment]
            if c.line == line and c.pos < first_child:
                self.next_comment += 1
                return "  " + c.text.rstrip()
        return ""

    def _children(self, items, depth: int, parent_span) -> None:
        prev_end = None
        for i, item in enumerate(items):
            nxt = items[i + 1].span.start_pos if i + 1 < len(items) else None
            self._statement(item, depth, prev_end, nxt)
            prev_end = item.span.end_pos
        # comments before the closing brace
        self._leading(depth, parent_span.end_pos - 1)

    def _statement(self, node, depth: int, prev_end, next_start) -> None:
        if self._blank_before(prev_end, node.span.start_pos):
            self._blank()
        start = node.span.start_pos
        if isinstance(node, ast.Let):
            self._leading(depth, node.span.end_pos, start)
            self._emit(depth, f"let {node.name} = {expr(node.value)}" + self._take_trailing(node.span, next_start))
        elif isinstance(node, ast.Setting):
            path = ".".join(node.path)
            if isinstance(node.value, ast.Block):
                self._leading(depth, node.value.span.start_pos, start)
                self._block_open(depth, path, node.value.span)
                self._children(node.value.items, depth + 1, node.value.span)
                self._emit(depth, "}" + self._take_trailing(node.span, next_start))
            else:
                self._leading(depth, node.span.end_pos, start)
                self._emit(depth, f"{path} {expr(node.value)}" + self._take_trailing(node.span, next_start))
        elif isinstance(node, ast.Network):
            head = node.role + (args(node.options) if node.options is not None else "")
            self._leading(depth, node.body.span.start_pos, start)
            self._layer_block(depth, head, node.body, next_start, node.span)
        elif isinstance(node, ast.BlockDef):
            self._leading(depth, node.body.span.start_pos, start)
            self._layer_block(depth, block_head(node), node.body, next_start, node.span)
        else:
            raise TypeError(f"unexpected statement {node!r}")

    def _block_open(self, depth: int, head: str, span) -> None:
        """`head {` with comments written before the brace moved above it."""
        self._leading(depth, span.start_pos)
        first_inner = span.start_pos + 1
        self._emit(depth, f"{head} {{" + self._take_trailing_header(span.line, _next_nonspace(self.source, first_inner)))

    def _layer_block(self, depth: int, head: str, body: ast.LayerBlock, next_start, outer_span) -> None:
        if not body.items:
            self._leading(depth, body.span.end_pos)
            self._emit(depth, f"{head} {{}}" + self._take_trailing(outer_span, next_start))
            return
        self._block_open(depth, head, body.span)
        self._layer_items(body.items, depth + 1)
        self._leading(depth + 1, body.span.end_pos - 1)
        self._emit(depth, "}" + self._take_trailing(outer_span, next_start))

    def _layer_items(self, items, depth: int) -> None:
        group: list = []
        prev_end = None

        def flush(next_start):
            if not group:
                return
            self._emit(depth, " ".join(layer_text(x) for x in group) + self._take_trailing(group[-1].span, next_start))
            group.clear()

        for i, item in enumerate(items):
            nxt = items[i + 1].span.start_pos if i + 1 < len(items) else None
            simple = isinstance(item, ast.Layer)
            if simple and group and item.span.line == group[-1].span.end_line:
                if self.next_comment < len(self.comments) and self.comments[self.next_comment].pos < item.span.end_pos:
                    flush(item.span.start_pos)  # an interior comment: start a new line
                else:
                    group.append(item)
                    continue
            flush(item.span.start_pos)
            if self._blank_before(prev_end, item.span.start_pos):
                self._blank()
            if simple:
                self._leading(depth, item.span.end_pos, item.span.start_pos)
                group.append(item)
            elif isinstance(item, (ast.Let, ast.BlockDef)):
                self._statement(item, depth, None, nxt)
            elif isinstance(item, ast.Repeat):
                self._leading(depth, item.body.span.start_pos, item.span.start_pos)
                self._layer_block(depth, f"repeat {expr(item.count)}", item.body, nxt, item.span)
            elif isinstance(item, ast.Wrapper):
                self._leading(depth, item.body.span.start_pos, item.span.start_pos)
                self._layer_block(depth, call_text(item.call), item.body, nxt, item.span)
            prev_end = item.span.end_pos
        flush(None)


def _next_nonspace(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def block_head(node: ast.BlockDef) -> str:
    """`block name(a, b: 2)`."""
    params = [p.name + (f": {expr(p.default)}" if p.default is not None else "") for p in node.params]
    return f"block {node.name}" + (f"({', '.join(params)})" if node.parens else "")


def layer_text(layer: ast.Layer) -> str:
    return call_text(layer.call)


def call_text(call: ast.Call) -> str:
    return call.name + (args(call.args) if call.parens else "")


def args(items) -> str:
    return "(" + ", ".join(arg_text(a) for a in items) + ")"


def arg_text(arg: ast.Arg) -> str:
    return f"{arg.name}: {expr(arg.value)}" if arg.name else expr(arg.value)


def expr(node) -> str:
    """Canonical text of an expression (same parse, same meaning)."""
    if isinstance(node, ast.Number):
        return node.text
    if isinstance(node, ast.String):
        return node.text
    if isinstance(node, ast.Symbol):
        return node.name
    if isinstance(node, ast.Paren):
        return f"({expr(node.expr)})"
    if isinstance(node, ast.ListExpr):
        return "[" + ", ".join(expr(i) for i in node.items) + "]"
    if isinstance(node, ast.Call):
        return call_text(node)
    if isinstance(node, ast.Unary):
        return f"{node.op}{expr(node.operand)}"
    if isinstance(node, ast.BinOp):
        if node.op == "**":
            return f"{expr(node.left)}**{expr(node.right)}"
        return f"{expr(node.left)} {node.op} {expr(node.right)}"
    raise TypeError(f"unknown expression {node!r}")
