"""Syntax tree -> typed spec: evaluate expressions, follow `extends`, merge, type-check.

    resolve_file("specs/wgan_gp.gan") -> Resolved(spec, diagnostics, files)

No semantic checks here beyond typing; those live in ganspec.checks.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ganspec.diagnostics import Diagnostic, Span, SpecError, did_you_mean, error, has_errors
from ganspec.ir import raw as R
from ganspec.ir.base import Component, Node, Registry
from ganspec.ir.spec import Spec
from ganspec.ir.layers import LAYERS, WRAPPERS, Repeat
from ganspec.syntax import ast
from ganspec.syntax.parser import decode, parse

MAX_INT = 2**53  # larger integers are almost surely typos, and not exact as floats
REPEATABLE = {"constraint": "constraints", "metric": "metrics", "tag": "tags"}
ROLE_KEYS = {"generator": "generator", "critic": "critic", "discriminator": "critic"}


@dataclass
class Resolved:
    """The result of resolving one spec file."""

    spec: Spec | None
    diagnostics: list[Diagnostic]
    files: list[str] = field(default_factory=list)  # the file and every file it extends
    document: ast.Document | None = None

    @property
    def ok(self) -> bool:
        return self.spec is not None and not has_errors(self.diagnostics)


# ---- evaluation: syntax tree -> raw values -----------------------------------------------


class _Abort(Exception):
    pass


class Evaluator:
    """Evaluates one file's statements into a raw block, collecting diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic], env: dict[str, R.RValue] | None = None,
                 forced: dict[str, R.RValue] | None = None):
        self.diags = diagnostics
        self.env: dict[str, R.RValue] = dict(env or {})
        self.forced = forced or {}  # variables set by a file that extends this one
        self._variables: dict = self.env  # names in scope at the last symbol, for hints

    # statements
    def let(self, stmt: ast.Let, env: dict) -> None:
        if stmt.name in self.forced:
            env[stmt.name] = self.forced[stmt.name]
            return
        value = self.expr(stmt.value, env)
        if value is not None:
            env[stmt.name] = value

    def statements(self, items, env: dict, span: Span) -> R.RBlock:
        block = R.RBlock({}, span)
        origins: dict[tuple, Span] = {}
        for stmt in items:
            if isinstance(stmt, ast.Let):
                self.let(stmt, env)
            elif isinstance(stmt, ast.Network):
                self.network(stmt, env, block, origins)
            else:
                self.setting(stmt, env, block, origins)
        return block

    def setting(self, stmt: ast.Setting, env: dict, block: R.RBlock, origins: dict) -> None:
        if isinstance(stmt.value, ast.Block):
            value = self.statements(stmt.value.items, dict(env), stmt.value.span)
        else:
            value = self.expr(stmt.value, env)
        if value is None:
            return
        path = list(stmt.path)
        if len(path) >= 1 and path[-1] in REPEATABLE:
            path[-1] = REPEATABLE[path[-1]]
            key = tuple(path)
            existing = _get_path(block, path)
            if _is_none(value):
                value = R.RList((), value.span)
            elif isinstance(existing, R.RList) and key in origins:
                value = R.RList(existing.items + (value,), stmt.span)
            else:
                value = R.RList((value,), stmt.span)
            origins[key] = stmt.span
            _set_path(block, path, value, stmt.path_span)
            return
        key = tuple(path)
        if key in origins and not isinstance(value, R.RBlock):
            first = origins[key]
            self.diags.append(error("E104", f"`{'.'.join(path)}` is set twice (first on line {first.line})",
                                    stmt.path_span, "remove one of them"))
            return
        origins[key] = stmt.span
        _set_path(block, path, value, stmt.path_span)

    def network(self, stmt: ast.Network, env: dict, block: R.RBlock, origins: dict) -> None:
        key = ROLE_KEYS[stmt.role]
        if (key,) in origins:
            first = origins[(key,)]
            self.diags.append(error("E104", f"the {key} is declared twice (first on line {first.line})", stmt.span))
            return
        origins[(key,)] = stmt.span
        entries: dict[str, R.RValue] = {}
        key_spans: dict[str, Span] = {}
        for arg in stmt.options or ():
            if arg.name is None:
                self.diags.append(error("E202", f"{key} options are named, like `{key}(pack: 2)`", arg.span))
                continue
            value = self.expr(arg.value, env)
            if value is not None:
                entries[arg.name] = value
                key_spans[arg.name] = arg.span
        entries["layers"] = self.layers(stmt.body, dict(env))
        key_spans["layers"] = stmt.body.span
        _set_path(block, [key], R.RBlock(entries, stmt.span, key_spans), stmt.span)

    def layers(self, body: ast.LayerBlock, env: dict) -> R.RLayers:
        items = []
        for item in body.items:
            if isinstance(item, ast.Let):
                self.let(item, env)
            elif isinstance(item, ast.Layer):
                call = self.call(item.call, env)
                if call is not None:
                    items.append(call)
            elif isinstance(item, ast.Repeat):
                count = self.expr(item.count, env)
                if count is not None:
                    items.append(R.RRepeat(count, self.layers(item.body, dict(env)), item.span))
            elif isinstance(item, ast.Wrapper):
                call = self.call(item.call, env)
                if call is not None:
                    items.append(R.RWrapper(call, self.layers(item.body, dict(env)), item.span))
        return R.RLayers(tuple(items), body.span)

    # expressions
    def expr(self, node, env: dict) -> R.RValue | None:
        try:
            return self._expr(node, env)
        except _Abort:
            return None

    def _fail(self, code: str, message: str, span: Span, hint: str | None = None):
        self.diags.append(error(code, message, span, hint))
        raise _Abort()

    def _expr(self, node, env: dict) -> R.RValue:
        if isinstance(node, ast.Number):
            return R.RVal(self._number(node), node.span)
        if isinstance(node, ast.String):
            return R.RVal(node.value, node.span)
        if isinstance(node, ast.Symbol):
            return self._symbol(node, env)
        if isinstance(node, ast.Paren):
            inner = self._expr(node.expr, env)
            return R.RVal(inner.value, node.span, inner.symbol) if isinstance(inner, R.RVal) else inner
        if isinstance(node, ast.ListExpr):
            return R.RList(tuple(self._expr(item, env) for item in node.items), node.span)
        if isinstance(node, ast.Call):
            call = self.call(node, env)
            if call is None:
                raise _Abort()
            return call
        if isinstance(node, ast.Unary):
            operand = self._numeric(self._expr(node.operand, env), node.op)
            return R.RVal(-operand if node.op == "-" else operand, node.span)
        if isinstance(node, ast.BinOp):
            left = self._numeric(self._expr(node.left, env), node.op)
            right = self._numeric(self._expr(node.right, env), node.op)
            return R.RVal(self._arith(node, left, right), node.span)
        raise TypeError(f"unknown expression node {node!r}")

    def call(self, node: ast.Call, env: dict) -> R.RCall | None:
        args, kwargs = [], {}
        ok = True
        for arg in node.args:
            value = self.expr(arg.value, env)
            if value is None:
                ok = False
                continue
            if arg.name is None:
                if kwargs:
                    self.diags.append(error("E202", "a positional argument cannot follow a named one", arg.span))
                    ok = False
                args.append(value)
            elif arg.name in kwargs:
                self.diags.append(error("E202", f"argument `{arg.name}` is given twice", arg.span))
                ok = False
            else:
                kwargs[arg.name] = value
        if not ok:
            return None
        name_span = Span(node.span.file, node.span.line, node.span.column, node.span.line,
                         node.span.column + len(node.name), node.span.start_pos, node.span.start_pos + len(node.name))
        return R.RCall(node.name, tuple(args), kwargs, node.span, {}, name_span)

    def _symbol(self, node: ast.Symbol, env: dict) -> R.RValue:
        self._variables = env
        if node.name in ("true", "false"):
            return R.RVal(node.name == "true", node.span)
        if node.name == "none":
            return R.RVal(None, node.span)
        if node.name in env:
            value = env[node.name]
            if isinstance(value, R.RVal):
                return R.RVal(value.value, node.span, value.symbol)
            return value
        return R.RVal(node.name, node.span, symbol=True)

    def _number(self, node: ast.Number):
        text = node.text.replace("_", "")
        try:
            if any(c in text for c in ".eE"):
                value = float(text)
            else:
                value = int(text)
        except ValueError:
            self._fail("E014", f"{node.text} is not a number that can be used", node.span)
        return self._check_range(value, node.span)

    def _check_range(self, value, span):
        if isinstance(value, float) and not math.isfinite(value):
            self._fail("E014", "number is too large", span)
        if isinstance(value, int) and abs(value) > MAX_INT:
            self._fail("E014", "number is too large (more than 2**53)", span)
        return value

    def _numeric(self, value: R.RValue, op: str):
        if isinstance(value, R.RVal) and isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
            return value.value
        shown = R.plain(value) if not isinstance(value, (R.RBlock, R.RLayers)) else "a block"
        hint = None
        if isinstance(value, R.RVal) and value.symbol:
            hint = did_you_mean(value.value, self._variables) or (
                f"`{value.value}` is not a variable; define it with `let {value.value} = ...`")
            self._fail("E102", f"`{value.value}` is not defined, so `{op}` cannot use it", value.span, hint)
        self._fail("E103", f"`{op}` needs numbers, got {shown!r}", value.span)

    def _arith(self, node: ast.BinOp, left, right):
        op = node.op
        try:
            if op == "+":
                result = left + right
            elif op == "-":
                result = left - right
            elif op == "*":
                result = left * right
            elif op == "/":
                result = left / right
                if isinstance(left, int) and isinstance(right, int) and left % right == 0:
                    result = left // right
            else:
                if isinstance(left, int) and isinstance(right, int) and right >= 0:
                    if abs(left) > 1 and right * math.log2(abs(left)) > 53:
                        self._fail("E014", "number is too large (more than 2**53)", node.span)
                    result = left**right
                else:
                    result = float(left) ** float(right)
                    if isinstance(result, complex):
                        self._fail("E103", "a negative number to a fractional power is not a real number", node.span)
        except ZeroDivisionError:
            self._fail("E103", "division by zero", node.span)
        except OverflowError:
            self._fail("E014", "number is too large", node.span)
        return self._check_range(result, node.span)


def _is_none(value) -> bool:
    return isinstance(value, R.RVal) and value.value is None


def _get_path(block: R.RBlock, path):
    node = block
    for key in path:
        if isinstance(node, R.RBlock) and key in node.entries:
            node = node.entries[key]
        else:
            return None
    return node


def _set_path(block: R.RBlock, path, value, span: Span) -> None:
    """Set a dotted path; a path through a call sets that call's argument."""
    node = block
    for i, key in enumerate(path[:-1]):
        nxt = node.entries.get(key)
        if isinstance(nxt, R.RCall):
            rest = R.RBlock({}, span)
            _set_path(rest, path[i + 1:], value, span)
            node.entries[key] = R.merge(nxt, rest)
            return
        if not isinstance(nxt, R.RBlock):
            nxt = R.RBlock({}, span)
            node.entries[key] = nxt
            node.key_spans[key] = span
        node = nxt
    last = path[-1]
    old = node.entries.get(last)
    node.entries[last] = R.merge(old, value) if old is not None else value
    node.key_spans[last] = span


# ---- extends ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _parse_cached(path: str, mtime_ns: int, size: int) -> ast.Document:
    return parse(decode(Path(path).read_bytes(), path), path)


def load_document(path: str | Path) -> ast.Document:
    """Parse a file, reusing the parse while the file is unchanged."""
    p = Path(path)
    try:
        st = p.stat()
        return _parse_cached(str(p), st.st_mtime_ns, st.st_size)
    except OSError as exc:
        raise SpecError(error("E001", f"cannot read {p}: {exc.strerror or exc}", Span(str(p), 1, 1, 1, 1))) from None


def _evaluate(doc: ast.Document, diags: list, stack: tuple[str, ...], files: list,
              forced: dict | None = None) -> tuple[str, R.RBlock, dict]:
    """Evaluate a document, merged over the files it extends; returns (name, block, env)."""
    exp = doc.experiment
    parent_block = None
    parent_env: dict = {}
    parent_doc = None
    if exp.extends is not None:
        parent_path = _parent_path(doc.file, exp.extends.value)
        key = os.path.realpath(parent_path)
        if key in stack:
            chain = " -> ".join(Path(p).name for p in stack + (key,))
            diags.append(error("E101", f"`extends` makes a cycle: {chain}", exp.extends.span))
        else:
            try:
                parent_doc = load_document(parent_path)
            except SpecError as exc:
                hint = f"the path is relative to {Path(doc.file).parent or '.'}"
                if any(d.code == "E001" for d in exc.diagnostics):
                    diags.append(error("E100", f"cannot extend {exp.extends.value!r}: file not found",
                                       exp.extends.span, hint))
                else:
                    diags.extend(exc.diagnostics)
            if parent_doc is not None:
                files.append(os.path.normpath(parent_path))
                # First pass: the parent's variables, visible to this file.
                _, _, parent_env = _evaluate(parent_doc, [], stack + (key,), [], forced)
    evaluator = Evaluator(diags, env=parent_env, forced=forced)
    env = evaluator.env
    for let in doc.before:
        evaluator.let(let, env)
    block = evaluator.statements(exp.items, env, exp.span)
    for let in doc.after:
        evaluator.let(let, env)
    own_vars = {name: value for name, value in env.items() if parent_env.get(name) is not value}
    if parent_doc is not None:
        # Second pass: the parent evaluated with this file's variables in force.
        forced_vars = {**(forced or {}), **own_vars}
        _, parent_block, _ = _evaluate(parent_doc, diags, stack + (os.path.realpath(parent_doc.file),), files,
                                       forced_vars)
        block = R.merge(parent_block, block)
    return exp.name, block, env


def _parent_path(file: str, target: str) -> str:
    base = Path(file).parent if file not in ("<string>", "-") else Path(".")
    return str(base / target)


# ---- typing: raw values -> IR ----------------------------------------------------------


def _unwrap(annotation):
    """(core type, registry, allows None) of a field annotation."""
    registry = None
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            args = get_args(annotation)
            for meta in args[1:]:
                if isinstance(meta, Registry):
                    registry = meta
            annotation = args[0]
        elif origin is Union or (origin is not None and str(origin) == "types.UnionType"):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) < len(get_args(annotation)):
                optional = True
            if len(args) == 1:
                annotation = args[0]
            else:
                return annotation, registry, optional
        else:
            return annotation, registry, optional


class Typer:
    """Builds IR models from raw blocks and calls, turning every problem into a diagnostic."""

    def __init__(self, diags: list[Diagnostic]):
        self.diags = diags

    def err(self, code, message, span, hint=None, notes=()):
        self.diags.append(error(code, message, span, hint, notes))

    def model(self, cls: type[Node], block: R.RBlock, where: str, extra: dict | None = None):
        values: dict[str, Any] = dict(extra or {})
        raws: dict[str, R.RValue] = {}
        ok = True
        fields = cls.model_fields
        for key, raw in block.entries.items():
            if key not in fields or key == "kind":
                hint = did_you_mean(key, [f for f in fields if f != "kind"])
                notes = (f"settings of {where or 'an experiment'}: {', '.join(f for f in fields if f != 'kind')}",)
                self.err("E200", f"unknown setting `{key}`" + (f" in {where}" if where else ""),
                         block.key_spans.get(key, _span_of(raw)), hint, notes)
                ok = False
                continue
            raws[key] = raw
        converted = self.fields(fields, raws, lambda key: _join(where, key))
        if not ok or converted is _FAIL:
            return _FAIL
        converted_values, spans = converted
        return self.construct(cls, {**values, **converted_values}, block.span, spans, where)

    def fields(self, fields, raws: dict, label):
        """Convert raw values to their fields' types: (values, spans), or _FAIL after reporting."""
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        ok = True
        for key, raw in raws.items():
            value = self.value(fields[key].annotation, raw, label(key), fields[key])
            if value is _FAIL:
                ok = False
                continue
            values[key] = value
            spans[key] = _span_of(raw)
        return (values, spans) if ok else _FAIL

    def construct(self, cls, values, span, spans, where):
        try:
            obj = cls(**values)
        except ValidationError as exc:
            for item in exc.errors():
                self._validation(item, spans, span, where, cls)
            return _FAIL
        return obj.located(span, spans)

    def _validation(self, item, spans, span, where, cls):
        loc = item.get("loc") or ()
        field_name = str(loc[0]) if loc else ""
        target = spans.get(field_name, span)
        label = _join(where, field_name)
        if item["type"] == "missing":
            if issubclass(cls, Component):
                self.err("E203", f"{where}() needs the argument `{field_name}`", target)
            elif not where:
                required = ", ".join(n for n, f in cls.model_fields.items() if f.is_required() and n != "name")
                what = {"critic": "critic (or discriminator) network", "generator": "generator network",
                        "data": "`data` block", "latent": "`latent` prior"}.get(field_name, f"`{field_name}`")
                self.err("E205", f"the experiment has no {what}", target,
                         notes=(f"every experiment needs: {required}",))
            else:
                self.err("E205", f"{where} needs the setting `{field_name}`", target)
            return
        msg = item["msg"].replace("Value error, ", "").replace("Input should be", "must be")
        msg = msg.replace("Value should have", "must have")
        msg = msg.replace("Tuple should have", "must have").replace("List should have", "must have")
        got = item.get("input")
        hint = None
        expected = (item.get("ctx") or {}).get("expected")
        if expected and isinstance(got, str):
            choices = [c.strip(" '") for c in expected.replace(" or ", ",").split(",")]
            hint = did_you_mean(got, choices)
        suffix = ""
        if got is not None and not isinstance(got, (dict, BaseModel)) and "must" in msg and "got" not in msg:
            suffix = f" (got {_show(got)})"
        code = "E202" if issubclass(cls, Component) else "E204"
        self.err(code, f"{label} {msg}{suffix}", target, hint)

    def value(self, annotation, raw: R.RValue, where: str, field_info=None):
        core, registry, optional = _unwrap(annotation)
        if field_info is not None:
            from ganspec.ir.base import registry_of

            registry = registry or registry_of(field_info)
        if optional and isinstance(raw, R.RVal) and raw.value is None:
            return None
        if registry is not None:
            default = field_info.get_default(call_default_factory=True) if field_info is not None else None
            if isinstance(raw, R.RBlock) and isinstance(default, Component):
                # `optimizer.critic.lr 1e-3` with no optimizer written: adjust the default one.
                raw = R.RCall(default.kind, (), {}, raw.span, dict(raw.entries), raw.span)
            return self.component(registry, raw, where)
        origin = get_origin(core)
        if origin is tuple:
            args = get_args(core)
            if isinstance(raw, R.RLayers) and where.endswith("layers"):
                return self.layers(raw, where)
            if not isinstance(raw, R.RList):
                if len(args) == 2 and args[1] is Ellipsis and isinstance(raw, (R.RVal, R.RCall)) and (
                    _unwrap(args[0])[1] is not None
                ):
                    raw = R.RList((raw,), _span_of(raw))  # a single item for a list of components
                else:
                    self.err("E204", f"{where} expects a list like [a, b], got {_describe(raw)}", _span_of(raw))
                    return _FAIL
            if len(args) == 2 and args[1] is Ellipsis:
                item_types = [args[0]] * len(raw.items)
            else:
                if len(args) != len(raw.items):
                    self.err("E204", f"{where} expects {len(args)} values, got {len(raw.items)}", raw.span)
                    return _FAIL
                item_types = list(args)
            out = []
            for i, (item_type, item) in enumerate(zip(item_types, raw.items)):
                converted = self.value(item_type, item, f"{where}[{i}]")
                if converted is _FAIL:
                    return _FAIL
                out.append(converted)
            return tuple(out)
        if isinstance(core, type) and issubclass(core, Node):
            if isinstance(raw, R.RBlock):
                return self.model(core, raw, where)
            if isinstance(raw, R.RVal) and raw.value is True and not _has_required(core):
                return self.construct(core, {}, raw.span, {}, where)  # `ema true`: all defaults
            self.err("E204", f"{where} expects a block {{ ... }}, got {_describe(raw)}", _span_of(raw),
                     f"write `{where.split('.')[-1]} {{ setting value ... }}`")
            return _FAIL
        if isinstance(raw, R.RVal):
            return raw.value
        if isinstance(raw, R.RList):
            return [R.plain(v) for v in raw.items]
        self.err("E204", f"{where} expects a single value, got {_describe(raw)}", _span_of(raw))
        return _FAIL

    def component(self, registry: Registry, raw: R.RValue, where: str, extra: dict | None = None):
        if isinstance(raw, R.RVal) and isinstance(raw.value, str):
            raw = R.RCall(raw.value, (), {}, raw.span, {}, raw.span)
        if not isinstance(raw, R.RCall):
            names = registry.names()
            self.err("E204", f"{where} expects a {registry.concept} such as {names[0]}(...), got {_describe(raw)}",
                     _span_of(raw), notes=(f"{registry.concept}s: {', '.join(names)}",))
            return _FAIL
        if raw.name not in registry:
            other = _other_registry(raw.name, registry)
            hint = did_you_mean(raw.name, registry.names())
            if other and not hint:
                hint = f"`{raw.name}` is a {other}, not a {registry.concept}"
            self.err("E201", f"unknown {registry.concept} `{raw.name}`", raw.name_span or raw.span, hint,
                     (f"{registry.concept}s: {', '.join(registry.names())}",))
            return _FAIL
        cls = registry[raw.name]
        return self.bind(cls, raw, extra)

    def bind(self, cls: type[Component], raw: R.RCall, extra: dict | None = None):
        """Match a call's arguments to a component's parameters and build it."""
        name = raw.name
        fields = {k: v for k, v in cls.model_fields.items() if k != "kind"}
        raws: dict[str, R.RValue] = {}
        ok = True
        if cls.varargs:
            if raw.args:
                raws[cls.varargs] = R.RList(tuple(raw.args), raw.span)
        else:
            if len(raw.args) > len(cls.positional):
                limit = len(cls.positional)
                names = ", ".join(cls.positional)
                self.err("E202", f"{name}() takes {limit} positional argument{'s' if limit != 1 else ''}"
                         + (f" ({names})" if names else "") + f", got {len(raw.args)}",
                         _span_of(raw.args[limit]), f"name the others, like `{_first_named(fields, cls)}: ...`")
                ok = False
            for pname, value in zip(cls.positional, raw.args):
                raws[pname] = value
        for key, value in list(raw.kwargs.items()) + list(raw.overrides.items()):
            if key not in fields or (extra and key in extra):
                hint = did_you_mean(key, fields)
                self.err("E202", f"{name}() has no argument `{key}`", _span_of(value), hint,
                         (f"arguments of {name}: {', '.join(fields) or 'none'}",))
                ok = False
                continue
            if key in raws and key in raw.kwargs and value is raw.kwargs[key]:
                self.err("E202", f"{name}(): `{key}` is given twice (by position and by name)", _span_of(value))
                ok = False
                continue
            raws[key] = value
        if not ok:
            return _FAIL
        converted = self.fields(fields, raws, lambda key: f"{name}.{key}")
        if converted is _FAIL:
            return _FAIL
        values, spans = converted
        return self.construct(cls, {**(extra or {}), **values}, raw.span, spans, name)

    def layers(self, raw: R.RLayers, where: str):
        out = []
        for item in raw.items:
            if isinstance(item, R.RCall):
                if item.name in WRAPPERS and item.name not in LAYERS:
                    self.err("E204", f"`{item.name}` is a block: write `{item.name} {{ layers... }}`", item.span)
                    return _FAIL
                layer = self.component(LAYERS, item, where)
            elif isinstance(item, R.RRepeat):
                body = self.layers(item.body, where)
                count = self.value(int, item.count, "repeat count")
                if body is _FAIL or count is _FAIL:
                    return _FAIL
                layer = self.construct(Repeat, {"count": count, "layers": body}, item.span,
                                       {"count": _span_of(item.count)}, "repeat")
            else:
                if item.call.name not in WRAPPERS:
                    hint = did_you_mean(item.call.name, WRAPPERS.names())
                    self.err("E201", f"unknown block `{item.call.name}`", item.call.name_span or item.call.span,
                             hint, (f"blocks: repeat, {', '.join(WRAPPERS.names())}",))
                    return _FAIL
                body = self.layers(item.body, where)
                if body is _FAIL:
                    return _FAIL
                layer = self.component(WRAPPERS, item.call, where, extra={"layers": body})
                if layer is not _FAIL:
                    layer.located(item.span, layer._field_spans)
            if layer is _FAIL:
                return _FAIL
            out.append(layer)
        return tuple(out)


_FAIL = object()


def _has_required(cls) -> bool:
    return any(f.is_required() for f in cls.model_fields.values())


def _first_named(fields, cls) -> str:
    for name in fields:
        if name not in cls.positional:
            return name
    return "name"


def _other_registry(name: str, registry: Registry) -> str | None:
    from ganspec.ir.components import all_registries

    for other in all_registries():
        if other is not registry and name in other:
            return other.concept
    return None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _span_of(raw) -> Span:
    return raw.span


def _show(value) -> str:
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _describe(raw) -> str:
    if isinstance(raw, R.RVal):
        if raw.symbol:
            return f"`{raw.value}`"
        return repr(raw.value) if isinstance(raw.value, str) else str(raw.value).lower() if isinstance(
            raw.value, bool) else str(raw.value)
    if isinstance(raw, R.RList):
        return "a list"
    if isinstance(raw, R.RCall):
        return f"{raw.name}(...)"
    if isinstance(raw, R.RLayers):
        return "a layer stack"
    return "a block"


# ---- entry points ----------------------------------------------------------------------


def resolve_document(doc: ast.Document, overrides: list[tuple[str, str]] | None = None) -> Resolved:
    """Resolve a parsed document (following `extends`) into a typed Spec."""
    diags: list[Diagnostic] = []
    files = [doc.file]
    stack = (os.path.realpath(doc.file),) if doc.file not in ("<string>", "-") else ()
    name, block, env = _evaluate(doc, diags, stack, files)
    for path, text in overrides or ():
        _apply_override(block, path, text, diags, env)
    spec = _FAIL
    if not has_errors(diags):
        spec = Typer(diags).model(Spec, block, "", extra={"name": name})
        if spec is not _FAIL:
            spec._span = doc.experiment.name_span
    return Resolved(None if spec is _FAIL else spec, diags, files, doc)


def _apply_override(block: R.RBlock, path: str, text: str, diags: list, env: dict) -> None:
    """`--set optimizer.critic.lr=5e-5`: the value is any .gan expression."""
    source = f"experiment override {{ {path} {text} }}"
    try:
        doc = parse(source, "--set")
    except SpecError as exc:
        for d in exc.diagnostics:
            diags.append(error("E105", f"--set {path}={text}: {d.message}", None, d.hint))
        return
    stmt = doc.experiment.items[0] if doc.experiment.items else None
    if not isinstance(stmt, ast.Setting):
        diags.append(error("E105", f"--set {path}={text}: expected `path=value`", None))
        return
    sub = Evaluator(diags, env=env).statements([stmt], dict(env), stmt.span)
    merged = R.merge(block, sub)
    block.entries, block.key_spans = merged.entries, merged.key_spans


def resolve_text(text: str, file: str = "<string>", overrides=None) -> Resolved:
    try:
        doc = parse(text, file)
    except SpecError as exc:
        return Resolved(None, exc.diagnostics, [file])
    return resolve_document(doc, overrides)


def resolve_file(path: str | Path, overrides=None) -> Resolved:
    """Read, parse and resolve one .gan file. Never raises for a bad spec."""
    try:
        doc = load_document(path)
    except SpecError as exc:
        return Resolved(None, exc.diagnostics, [str(path)])
    return resolve_document(doc, overrides)


def parse_component(text: str, registry: Registry, where: str = "--metric"):
    """A component written on the command line (`fid(samples: 1000)`) -> (node or None, diagnostics)."""
    diags: list[Diagnostic] = []
    try:
        doc = parse(f"experiment cli {{ value {text} }}", where)
    except SpecError as exc:
        return None, exc.diagnostics
    stmt = doc.experiment.items[0] if len(doc.experiment.items) == 1 else None
    if not isinstance(stmt, ast.Setting) or isinstance(stmt.value, ast.Block):
        return None, [error("E204", f"{where}: expected one {registry.concept}, got {text!r}")]
    raw = Evaluator(diags).expr(stmt.value, {})
    if raw is None:
        return None, diags
    node = Typer(diags).component(registry, raw, where)
    return (None if node is _FAIL else node), diags
