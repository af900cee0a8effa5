"""Text -> syntax tree. Loads the Lark grammar once; turns parser errors into diagnostics."""

from __future__ import annotations

import functools
import os
import re
import stat
import threading
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ganspec.diagnostics import Diagnostic, Span, SpecError, error
from ganspec.syntax import ast
from ganspec.syntax.grammar_cache import cached_lark

MAX_DEPTH = 64  # brackets nested deeper than this are refused before parsing

# Terminal names -> words a person understands, for "expected ..." messages.
TOKEN_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COLON": "':'",
    "DOT": "'.'",
    "EQUAL": "'='",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "__ANON_0": "'**'",
    "EXPERIMENT": "'experiment'",
    "EXTENDS": "'extends'",
    "LET": "'let'",
    "REPEAT": "'repeat'",
    "BLOCK": "'block'",
    "GENERATOR": "'generator'",
    "CRITIC": "'critic'",
    "DISCRIMINATOR": "'discriminator'",
    "$END": "the end of the file",
}


def grammar_text() -> str:
    """The grammar, from the installed package or, in a source checkout, from grammar/."""
    try:
        return resources.files("ganspec").joinpath("grammar/gan.lark").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        here = Path(__file__).resolve().parents[2] / "grammar" / "gan.lark"
        return here.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _parser() -> tuple[Lark, _ToAst]:
    """The parser and the builder it calls as it reduces each rule; built once per grammar and Lark
    version, then loaded from the user's cache (grammar_cache.py)."""
    builder = _ToAst()
    # The builder makes the syntax tree while Lark parses, so no parse tree is built and walked after.
    # Every token is kept (keep_all_tokens): a node's span runs from its first token to its last,
    # braces and keywords included, which is what Lark's propagate_positions computes, at a fraction
    # of the cost.
    lark = cached_lark(grammar_text(), transformer=builder, parser="lalr", keep_all_tokens=True,
                       maybe_placeholders=False)
    return lark, builder


_PARSING = threading.Lock()  # the builder holds the file being parsed


def _span(file: str, token) -> Span:
    return Span(file, token.line, token.column, token.end_line, token.end_column, token.start_pos, token.end_pos)


class _Parenthesized(NamedTuple):
    """A call's arguments and its closing parenthesis (where the call ends)."""

    args: tuple
    close: Token


class _ToAst:
    """One method per grammar rule, called by the parser as it reduces the rule, with all of the rule's
    tokens and its sub-rules already turned into nodes; each returns one typed node with its span.
    Rules whose name starts with `_` are inlined by Lark into their parent's children."""

    file: str = "<string>"

    def _cover(self, first, last) -> Span:
        """The span from the start of `first` to the end of `last` (tokens or nodes)."""
        a = first if first.__class__ is Token else first.span
        b = last if last.__class__ is Token else last.span
        return Span(self.file, a.line, a.column, b.end_line, b.end_column, a.start_pos, b.end_pos)

    def start(self, children):
        before, experiment, after = [], None, []
        for child in children:
            if isinstance(child, ast.Experiment):
                experiment = child
            elif experiment is None:
                before.append(child)
            else:
                after.append(child)
        return (tuple(before), experiment, tuple(after))

    def experiment(self, children):  # "experiment" NAME extends? "{" _stmt* "}"
        name = children[1]
        extends = children[2] if isinstance(children[2], ast.String) else None
        items = children[4 if extends is not None else 3:-1]
        return ast.Experiment(str(name), extends, tuple(items), self._cover(children[0], children[-1]),
                              _span(self.file, name))

    def extends(self, children):  # "extends" STRING
        token = children[1]
        return ast.String(str(token), _unquote(str(token)), _span(self.file, token))

    def let_stmt(self, children):  # "let" NAME "=" expr
        return ast.Let(str(children[1]), children[3], self._cover(children[0], children[3]))

    def block_def(self, children):  # "block" NAME block_params? layer_block
        name = children[1]
        params = children[2] if len(children) == 4 else None
        return ast.BlockDef(str(name), params or (), children[-1], self._cover(children[0], children[-1]),
                            _span(self.file, name), parens=params is not None)

    def block_params(self, children):  # "(" (param ("," param)* ","?)? ")"
        return tuple(c for c in children if c.__class__ is ast.Param)

    def param(self, children):  # NAME (":" expr)?
        return ast.Param(str(children[0]), children[2] if len(children) > 1 else None,
                         self._cover(children[0], children[-1]))

    def setting(self, children):  # path (expr | block)
        (path, path_span), value = children
        span = value.span
        return ast.Setting(path, value, Span(self.file, path_span.line, path_span.column, span.end_line,
                                             span.end_column, path_span.start_pos, span.end_pos), path_span)

    def path(self, children):  # NAME ("." key)*: the names, and the span of them all
        return tuple(str(c) for c in children[::2]), self._cover(children[0], children[-1])

    def key(self, children):  # the token: a name, or a network's name used as a key
        return children[0]

    def block(self, children):  # "{" (inner_setting | let_stmt)* "}"
        return ast.Block(tuple(children[1:-1]), self._cover(children[0], children[-1]))

    def network(self, children):  # network_role call_body? layer_block
        options = children[1].args if len(children) == 3 else None
        return ast.Network(str(children[0]), options, children[-1], self._cover(children[0], children[-1]))

    def network_role(self, children):
        return children[0]

    def layer_block(self, children):  # "{" _layer_item* "}"
        return ast.LayerBlock(tuple(children[1:-1]), self._cover(children[0], children[-1]))

    def layer(self, children):  # NAME | call
        return ast.Layer(self._as_call(children[0]), self._cover(children[0], children[0]))

    def repeat(self, children):  # "repeat" expr layer_block
        return ast.Repeat(children[1], children[2], self._cover(children[0], children[2]))

    def wrapper(self, children):  # (NAME | call) layer_block
        return ast.Wrapper(self._as_call(children[0]), children[1], self._cover(children[0], children[1]))

    def _as_call(self, head) -> ast.Call:
        if isinstance(head, ast.Call):
            return head
        return ast.Call(str(head), (), _span(self.file, head), parens=False)

    def call(self, children):  # NAME call_body
        body = children[1]
        return ast.Call(str(children[0]), body.args, self._cover(children[0], body.close))

    def call_body(self, children):  # "(" (_arg ("," _arg)* ","?)? ")"
        args = tuple(c if c.__class__ is ast.Arg else ast.Arg(None, c, c.span)
                     for c in children[1:-1] if c.__class__ is not Token)
        return _Parenthesized(args, children[-1])

    def kwarg(self, children):  # key ":" expr
        return ast.Arg(str(children[0]), children[2], self._cover(children[0], children[2]))

    def list(self, children):  # "[" (expr ("," expr)* ","?)? "]"
        items = tuple(c for c in children[1:-1] if c.__class__ is not Token)
        return ast.ListExpr(items, self._cover(children[0], children[-1]))

    def number(self, children):
        return ast.Number(str(children[0]), _span(self.file, children[0]))

    def string(self, children):
        text = str(children[0])
        return ast.String(text, _unquote(text), _span(self.file, children[0]))

    def symbol(self, children):
        return ast.Symbol(str(children[0]), _span(self.file, children[0]))

    def paren(self, children):  # "(" expr ")"
        return ast.Paren(children[1], self._cover(children[0], children[2]))

    def _binop(op):
        def method(self, children):  # left OPERATOR right
            return ast.BinOp(op, children[0], children[2], self._cover(children[0], children[2]))

        return method

    add, sub, mul, div, pow = _binop("+"), _binop("-"), _binop("*"), _binop("/"), _binop("**")

    def _unary(op):
        def method(self, children):  # OPERATOR operand
            return ast.Unary(op, children[1], self._cover(children[0], children[1]))

        return method

    neg, pos = _unary("-"), _unary("+")


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def quote(value: str) -> str:
    """A string literal that `_unquote` turns back into `value`."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def decode(data: bytes, file: str) -> str:
    """Bytes of a spec file -> text, or a diagnostic saying where the bad byte is."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        span = Span(file, line, column, line, column + 1, exc.start, exc.start + 1)
        raise SpecError(
            error("E002", f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})", span,
                  "save the file as UTF-8")
        ) from None
    return text.lstrip("\ufeff")


def parse(text: str, file: str = "<string>") -> ast.Document:
    """Parse one .gan source text into a `Document`; raise SpecError with diagnostics."""
    _check_nul(text, file)
    _check_depth(text, file)
    comments: list[ast.Comment] = []
    try:
        before, experiment, after = _parse_collecting(text, file, comments)
    except UnexpectedInput as exc:
        raise SpecError(_syntax_diagnostic(exc, text, file)) from None
    return ast.Document(file, text, before, experiment, after, tuple(comments))


def _parse_collecting(text: str, file: str, comments: list) -> tuple:
    lark, builder = _parser()
    # Comments are %ignored by the grammar; a lexer pass collects them for the formatter.
    for match in re.finditer(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*', text):
        token = match.group(0)
        if token.startswith("#"):
            pos = match.start()
            line = text.count("\n", 0, pos) + 1
            column = pos - (text.rfind("\n", 0, pos) + 1) + 1
            comments.append(ast.Comment(token.rstrip("\r"), line, column, pos))
    with _PARSING:
        builder.file = file
        return lark.parse(text)


# What the depth check reads: a string literal (as the grammar's STRING, escapes included) or a comment,
# both skipped whole, or one bracket.
_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[][(){}]')


def _check_nul(text: str, file: str) -> None:
    # No spec has a use for a NUL character, and none may reach a path: the operating system refuses it.
    at = text.find("\0")
    if at < 0:
        return
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    raise SpecError(error("E011", "unexpected character '\\x00' (a NUL byte)", Span(file, line, column, line, column + 1,
                                                                                at, at + 1),
                          "a spec is text: remove the NUL byte"))


def _check_depth(text: str, file: str) -> None:
    # Brackets in strings and comments are text, not nesting, so they do not count.
    depth = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if len(token) > 1 or token in '"#':
            continue
        if token in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                pos = match.start()
                line = text.count("\n", 0, pos) + 1
                column = pos - (text.rfind("\n", 0, pos) + 1) + 1
                span = Span(file, line, column, line, column + 1, pos, pos + 1)
                raise SpecError(error("E013", f"brackets are nested more than {MAX_DEPTH} deep", span))
        elif depth:
            depth -= 1


def _expected_words(expected) -> list[str]:
    words = sorted({TOKEN_WORDS.get(name, name.lower()) for name in expected if not name.startswith("_")})
    return words


def _syntax_diagnostic(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        span = Span(file, exc.line, exc.column, exc.line, exc.column + 1, exc.pos_in_stream, exc.pos_in_stream + 1)
        hint = None
        if char in "'`":
            hint = 'strings use double quotes: "like this"'
        elif char == ";":
            hint = "settings need no separator; put the next one on its own line"
        return error("E011", f"unexpected character {char!r}", span, hint)
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        end = len(text)
        line = text.count("\n") + 1
        column = end - (text.rfind("\n") + 1) + 1
        span = Span(file, line, column, line, column, end, end)
        expected = _expected_words(getattr(exc, "expected", []) or [])
        opened = _unclosed(text)
        if opened is not None:
            pos = opened[1]
            o_line = text.count("\n", 0, pos) + 1
            o_col = pos - (text.rfind("\n", 0, pos) + 1) + 1
            return error("E012", f"this {opened[0]!r} is never closed: the file ends before its {_CLOSER[opened[0]]!r}",
                         Span(file, o_line, o_col, o_line, o_col + 1, pos, pos + 1),
                         f"add {_CLOSER[opened[0]]!r} where the block ends")
        elif not text.strip():
            msg = "empty file: a spec needs an `experiment NAME { ... }` block"
        else:
            msg = "unexpected end of file"
        return error("E012", msg, span, f"expected {_join(expected)}" if expected else None)
    assert isinstance(exc, UnexpectedToken)
    tok: Token = exc.token
    expected = _expected_words(exc.expected)
    span = Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1,
                tok.start_pos or 0, tok.end_pos or 0)
    shown = str(tok)
    hint = None
    if tok.type == "EQUAL":
        hint = "settings are written `name value` without '='; only `let` uses '='"
    elif tok.type == "COLON" and "a name" not in expected:
        hint = "`name: value` is for arguments inside parentheses; a setting is `name value`"
    elif tok.type == "RBRACE" and "a number" in expected:
        hint = "a setting needs a value after its name"
    return error("E010", f"unexpected {shown!r}; expected {_join(expected)}", span, hint)


_CLOSER = {"{": "}", "(": ")", "[": "]"}


def _unclosed(text: str):
    stack = []
    for match in re.finditer(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[\[\](){}]', text):
        tok = match.group(0)
        if tok in "([{":
            stack.append((tok, match.start()))
        elif tok in ")]}":
            if stack:
                stack.pop()
    return stack[-1] if stack else None


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return words[0] if words else "nothing more"
    return ", ".join(words[:-1]) + " or " + words[-1]


MAX_SPEC_BYTES = 2**20  # a spec is a page of text (the catalogue's: a few KB); more is a wrong file, slow to parse

_NOT_REGULAR = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


def _unreadable(path: str, reason: str) -> SpecError:
    return SpecError(error("E001", f"cannot read {path}: {reason}", Span(path, 1, 1, 1, 1)))


def _check_regular(mode: int, path: str) -> None:
    if not stat.S_ISREG(mode):
        what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a file")
        raise _unreadable(path, f"it is {what}, not a spec file")


def stat_source(path: str | Path) -> os.stat_result:
    """The status of a spec file, read without opening it; SpecError (E001) unless it is a regular file
    (a FIFO would block the reader, a device stream without end), E003 when it is larger than a spec can be."""
    path = str(path)
    try:
        status = os.stat(path)
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from None
    _check_regular(status.st_mode, path)
    if status.st_size > MAX_SPEC_BYTES:
        raise _too_large(path)
    return status


def _too_large(path: str) -> SpecError:
    return SpecError(error("E003", f"{path} is larger than {MAX_SPEC_BYTES // 2**20} MiB: not a spec file",
                           None, "a spec is a page of text; check the path"))


def read_source(path: str | Path) -> bytes:
    """The bytes of a spec file, at most MAX_SPEC_BYTES of them; SpecError (`stat_source`) for anything else.
    Opened without blocking and checked again once open, in case the path changed in between."""
    path = str(path)
    stat_source(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as file:
            _check_regular(os.fstat(file.fileno()).st_mode, path)
            data = file.read(MAX_SPEC_BYTES + 1)  # a size the file system reports may be 0 (/proc)
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from None
    if len(data) > MAX_SPEC_BYTES:
        raise _too_large(path)
    return data


def read_stream(stream, name: str = "<stdin>") -> bytes:
    """The bytes of a spec given on a stream (standard input), at most MAX_SPEC_BYTES: E003 past them."""
    data = stream.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        raise _too_large(name)
    return data


def parse_file(path: str | Path) -> ast.Document:
    """Read and parse a file; unreadable files raise SpecError with code E001 (`read_source`)."""
    return parse(decode(read_source(path), str(path)), str(path))
