"""Text -> syntax tree. Loads the Lark grammar once; turns parser errors into diagnostics."""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ganspec.diagnostics import Diagnostic, Span, SpecError, error
from ganspec.syntax import ast

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
def _lark() -> Lark:
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _span(file: str, meta_or_token) -> Span:
    m = meta_or_token
    return Span(file, m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos)


class _ToAst(Transformer):
    """One method per grammar rule, each returning one typed node with its span."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _s(self, meta) -> Span:
        return _span(self.file, meta)

    @v_args(meta=True)
    def start(self, meta, children):
        before, experiment, after = [], None, []
        for child in children:
            if isinstance(child, ast.Experiment):
                experiment = child
            elif experiment is None:
                before.append(child)
            else:
                after.append(child)
        return (tuple(before), experiment, tuple(after))

    @v_args(meta=True)
    def experiment(self, meta, children):
        name = children[0]
        extends = None
        items = []
        for child in children[1:]:
            if isinstance(child, ast.String) and extends is None and not items:
                extends = child
            else:
                items.append(child)
        return ast.Experiment(str(name), extends, tuple(items), self._s(meta), _span(self.file, name))

    def extends(self, children):
        token = children[0]
        return ast.String(str(token), _unquote(str(token)), _span(self.file, token))

    @v_args(meta=True)
    def let_stmt(self, meta, children):
        return ast.Let(str(children[0]), children[1], self._s(meta))

    @v_args(meta=True)
    def block_def(self, meta, children):
        name = children[0]
        params = children[1] if len(children) == 3 else None
        return ast.BlockDef(str(name), params or (), children[-1], self._s(meta), _span(self.file, name),
                            parens=params is not None)

    def block_params(self, children):
        return tuple(children)

    @v_args(meta=True)
    def param(self, meta, children):
        return ast.Param(str(children[0]), children[1] if len(children) > 1 else None, self._s(meta))

    @v_args(meta=True)
    def setting(self, meta, children):
        path, path_span = children[0]
        return ast.Setting(path, children[1], self._s(meta), path_span)

    @v_args(meta=True)
    def path(self, meta, children):
        return tuple(str(c) for c in children), self._s(meta)

    def key(self, children):
        return str(children[0])

    @v_args(meta=True)
    def block(self, meta, children):
        return ast.Block(tuple(children), self._s(meta))

    @v_args(meta=True)
    def network(self, meta, children):
        role = children[0]
        options = None
        if len(children) == 3:
            options = children[1]
        return ast.Network(role, options, children[-1], self._s(meta))

    def network_role(self, children):
        return str(children[0])

    @v_args(meta=True)
    def layer_block(self, meta, children):
        return ast.LayerBlock(tuple(children), self._s(meta))

    @v_args(meta=True)
    def layer(self, meta, children):
        return ast.Layer(self._as_call(children[0]), self._s(meta))

    @v_args(meta=True)
    def repeat(self, meta, children):
        return ast.Repeat(children[0], children[1], self._s(meta))

    @v_args(meta=True)
    def wrapper(self, meta, children):
        return ast.Wrapper(self._as_call(children[0]), children[1], self._s(meta))

    def _as_call(self, head) -> ast.Call:
        if isinstance(head, ast.Call):
            return head
        return ast.Call(str(head), (), _span(self.file, head), parens=False)

    @v_args(meta=True)
    def call(self, meta, children):
        return ast.Call(str(children[0]), children[1], self._s(meta))

    def call_body(self, children):
        return tuple(c if isinstance(c, ast.Arg) else ast.Arg(None, c, c.span) for c in children)

    @v_args(meta=True)
    def kwarg(self, meta, children):
        return ast.Arg(str(children[0]), children[1], self._s(meta))

    @v_args(meta=True)
    def list(self, meta, children):
        return ast.ListExpr(tuple(children), self._s(meta))

    @v_args(meta=True)
    def number(self, meta, children):
        return ast.Number(str(children[0]), self._s(meta))

    @v_args(meta=True)
    def string(self, meta, children):
        text = str(children[0])
        return ast.String(text, _unquote(text), self._s(meta))

    @v_args(meta=True)
    def symbol(self, meta, children):
        return ast.Symbol(str(children[0]), self._s(meta))

    @v_args(meta=True)
    def paren(self, meta, children):
        return ast.Paren(children[0], self._s(meta))

    def _binop(op):
        @v_args(meta=True)
        def method(self, meta, children):
            return ast.BinOp(op, children[0], children[1], self._s(meta))

        return method

    add, sub, mul, div, pow = _binop("+"), _binop("-"), _binop("*"), _binop("/"), _binop("**")

    def _unary(op):
        @v_args(meta=True)
        def method(self, meta, children):
            return ast.Unary(op, children[0], self._s(meta))

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
    _check_depth(text, file)
    comments: list[ast.Comment] = []
    try:
        tree = _parse_collecting(text, comments)
    except UnexpectedInput as exc:
        raise SpecError(_syntax_diagnostic(exc, text, file)) from None
    try:
        before, experiment, after = _ToAst(file).transform(tree)
    except VisitError as exc:  # a transformer bug, surfaced as the original error
        raise exc.orig_exc from None
    return ast.Document(file, text, before, experiment, after, tuple(comments))


def _parse_collecting(text: str, comments: list) -> Tree:
    lark = _lark()
    # Comments are %ignored by the grammar; a lexer pass collects them for the formatter.
    for match in re.finditer(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*', text):
        token = match.group(0)
        if token.startswith("#"):
            pos = match.start()
            line = text.count("\n", 0, pos) + 1
            column = pos - (text.rfind("\n", 0, pos) + 1) + 1
            comments.append(ast.Comment(token.rstrip("\r"), line, column, pos))
    return lark.parse(text)


def _check_depth(text: str, file: str) -> None:
    depth = 0
    for pos, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, pos) + 1
                column = pos - (text.rfind("\n", 0, pos) + 1) + 1
                span = Span(file, line, column, line, column + 1, pos, pos + 1)
                raise SpecError(error("E013", f"brackets are nested more than {MAX_DEPTH} deep", span))
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char == "#":
            end = text.find("\n", pos)
            if end == -1:
                break


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


def parse_file(path: str | Path) -> ast.Document:
    """Read and parse a file; unreadable files raise SpecError with code E001."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(error("E001", f"cannot read {path}: {exc.strerror or exc}", Span(str(path), 1, 1, 1, 1))) from None
    return parse(decode(data, str(path)), str(path))
