"""Syntax tree -> raw values: `let`, expressions, dotted paths, `extends` and `--set` overrides.

    evaluate_document(doc, diagnostics, stack, files) -> (name, RBlock, variables)

Nothing here knows the IR's types; `ganspec.resolve.to_ir` does the typing.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import replace
from pathlib import Path

from ganspec.diagnostics import Diagnostic, Span, SpecError, did_you_mean, error
from ganspec.resolve import raw as R
from ganspec.resolve.abort import Abort, Reporter
from ganspec.syntax import ast
from ganspec.syntax.parser import decode, parse, read_source, stat_source

MAX_INT = 2**53  # larger integers are almost surely typos, and not exact as floats
MAX_EXPANDED_LAYERS = 100_000  # layers that `block` uses may write out in one file, against expansion bombs
REPEATABLE = {"constraint": "constraints", "metric": "metrics", "tag": "tags"}
ROLE_KEYS = {"generator": "generator", "critic": "critic", "discriminator": "critic"}


class Evaluator(Reporter):
    """Evaluates one file's statements into a raw block, collecting diagnostics.

    An expression that fails raises `Abort`; each statement, network option, layer
    and call argument is a recovery point, so the others are still evaluated.
    """

    def __init__(self, diagnostics: list[Diagnostic], env: dict[str, R.RValue] | None = None,
                 forced: dict[str, R.RValue] | None = None):
        super().__init__(diagnostics)
        self.env: dict[str, R.RValue] = dict(env or {})
        self.forced = forced or {}  # variables set by a file that extends this one
        self._variables: dict = self.env  # names in scope at the last symbol, for hints
        self._expanding: list[str] = []  # blocks being expanded, innermost last (to refuse recursion)
        self._expanded = 0  # layers written out by block expansions so far

    # statements
    def let(self, stmt: ast.Let, env: dict) -> None:
        if stmt.name in self.forced:
            env[stmt.name] = self.forced[stmt.name]
            return
        try:
            env[stmt.name] = self.expr(stmt.value, env)
        except Abort:
            pass  # reported; the name stays undefined

    def define(self, stmt: ast.BlockDef, env: dict) -> None:
        """`block name(params) { ... }`: bound like a variable (a file that extends this one may redefine it)."""
        if stmt.name in self.forced:
            env[stmt.name] = self.forced[stmt.name]
            return
        seen: set[str] = set()
        required_after_default = False
        for param in stmt.params:
            if param.name in seen:
                self.report("E202", f"block `{stmt.name}` has two parameters named `{param.name}`", param.span)
                return
            seen.add(param.name)
            if param.default is None and required_after_default:
                self.report("E202", f"block `{stmt.name}`: the parameter `{param.name}` without a default follows "
                            "one with a default", param.span, f"give it a default (`{param.name}: ...`) or move it first")
                return
            required_after_default = required_after_default or param.default is not None
        env[stmt.name] = R.RBlockDef(stmt, env, stmt.span)

    def statements(self, items, env: dict, span: Span) -> R.RBlock:
        block = R.RBlock({}, span)
        origins: dict[tuple, Span] = {}
        for stmt in items:
            if isinstance(stmt, ast.Let):
                self.let(stmt, env)
            elif isinstance(stmt, ast.BlockDef):
                self.define(stmt, env)
            elif isinstance(stmt, ast.Network):
                self.network(stmt, env, block, origins)
            else:
                self.setting(stmt, env, block, origins)
        return block

    def setting(self, stmt: ast.Setting, env: dict, block: R.RBlock, origins: dict) -> None:
        if isinstance(stmt.value, ast.Block):
            value = self.statements(stmt.value.items, dict(env), stmt.value.span)
        else:
            try:
                value = self.expr(stmt.value, env)
            except Abort:
                return  # reported; the setting is left out
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
            self.report("E104", f"`{'.'.join(path)}` is set twice (first on line {first.line})",
                        stmt.path_span, "remove one of them")
            return
        origins[key] = stmt.span
        _set_path(block, path, value, stmt.path_span)

    def network(self, stmt: ast.Network, env: dict, block: R.RBlock, origins: dict) -> None:
        key = ROLE_KEYS[stmt.role]
        if (key,) in origins:
            first = origins[(key,)]
            self.report("E104", f"the {key} is declared twice (first on line {first.line})", stmt.span)
            return
        origins[(key,)] = stmt.span
        entries: dict[str, R.RValue] = {}
        key_spans: dict[str, Span] = {}
        for arg in stmt.options or ():
            if arg.name is None:
                self.report("E202", f"{key} options are named, like `{key}(pack: 2)`", arg.span)
                continue
            try:
                entries[arg.name] = self.expr(arg.value, env)
            except Abort:
                continue  # reported; the option is left out
            key_spans[arg.name] = arg.span
        entries["layers"] = self.layers(stmt.body, dict(env))
        key_spans["layers"] = stmt.body.span
        _set_path(block, [key], R.RBlock(entries, stmt.span, key_spans), stmt.span)

    def layers(self, body: ast.LayerBlock, env: dict) -> R.RLayers:
        items = []
        for item in body.items:
            if isinstance(item, ast.Let):
                self.let(item, env)
                continue
            if isinstance(item, ast.BlockDef):
                self.define(item, env)
                continue
            try:
                items.extend(self.layer(item, env))
            except Abort:
                continue  # reported; the stack goes on without this layer
        return R.RLayers(tuple(items), body.span)

    def layer(self, item: ast.Layer | ast.Repeat | ast.Wrapper, env: dict) -> list:
        """The stack items one written item stands for: one layer or block, or the layers of a named layer,
        list of layers or `block` definition. A block's body is evaluated only when its head is good."""
        if isinstance(item, ast.Layer):
            named = self.named_layers(item.call, env)
            return [self.call(item.call, env)] if named is None else named
        if isinstance(item, ast.Repeat):
            count = self.expr(item.count, env)
            return [R.RRepeat(count, self.layers(item.body, dict(env)), item.span)]
        if isinstance(env.get(item.call.name), R.RBlockDef):
            self.fail("E204", f"`{item.call.name}` is a block defined with `block`: use it as `{item.call.name}(...)`, "
                      "without a body of its own", item.call.span)
        call = self.call(item.call, env)
        return [R.RWrapper(call, self.layers(item.body, dict(env)), item.span)]

    def named_layers(self, node: ast.Call, env: dict) -> list | None:
        """Stack items of a name bound by `let` or `block`, with the call's arguments applied; None when the
        name is not bound to layers (a built-in layer, or a variable holding a number keeps its meaning)."""
        value = env.get(node.name)
        if isinstance(value, R.RBlockDef):
            return list(self.expand(value, node, env).items)
        if isinstance(value, R.RVal) and value.symbol and isinstance(value.value, str):
            value = R.bare_call(value)  # `let act = relu`
        if isinstance(value, R.RCall):
            if any(arg.name is None for arg in node.args):
                self.fail("E202", f"`{node.name}` stands for {value.name}(...): change its arguments by name, "
                          f"like `{node.name}({_first_kwarg(value)}: ...)`", node.span)
            if not node.args:
                return [value]
            changed = self.call(node, env)
            return [R.RCall(value.name, value.args, {**value.kwargs, **changed.kwargs}, node.span,
                            dict(value.overrides), changed.name_span)]
        if isinstance(value, (R.RList, R.RLayers)) or (isinstance(value, R.RVal) and value.value is None):
            if node.args:
                self.fail("E202", f"`{node.name}` is a list of layers; it takes no arguments", node.span)
            if isinstance(value, R.RVal):
                return []  # `none`: no layer (an optional layer passed to a block)
            items = value.items
            bad = next((v for v in items if not isinstance(v, (R.RCall, R.RRepeat, R.RWrapper))
                        and not (isinstance(v, R.RVal) and v.symbol)), None)
            if bad is not None:
                self.fail("E204", f"`{node.name}` is used as layers, but it holds {R.plain(bad)!r}", bad.span)
            return [R.bare_call(v) if isinstance(v, R.RVal) else v for v in items]
        return None

    def expand(self, value: R.RBlockDef, node: ast.Call, env: dict) -> R.RLayers:
        """A use of a `block`: its body evaluated in its own scope with the parameters bound."""
        definition: ast.BlockDef = value.definition
        name = definition.name
        if self._expanded > MAX_EXPANDED_LAYERS:
            raise Abort()  # reported once, where the limit was passed
        if name in self._expanding:
            chain = " -> ".join(self._expanding[self._expanding.index(name):] + [name])
            self.fail("E106", f"block `{name}` uses itself ({chain}): it would never end", node.span,
                      "a block may use other blocks, but not itself; write the repetition with `repeat`")
        params = {p.name: p for p in definition.params}
        bound: dict[str, R.RValue] = {}
        failed = False
        positional = [a for a in node.args if a.name is None]
        if len(positional) > len(definition.params):
            self.report("E202", f"block `{name}` takes {len(definition.params)} argument"
                        f"{'s' if len(definition.params) != 1 else ''} ({', '.join(params) or 'none'}), "
                        f"got {len(positional)}", positional[len(definition.params)].span)
            failed = True
        for arg, param in zip(positional, definition.params):
            try:
                bound[param.name] = self.expr(arg.value, env)
            except Abort:
                failed = True
        for arg in node.args:
            if arg.name is None:
                continue
            if arg.name not in params:
                self.report("E202", f"block `{name}` has no parameter `{arg.name}`", arg.span,
                            did_you_mean(arg.name, list(params)), (f"parameters of {name}: {', '.join(params) or 'none'}",))
                failed = True
                continue
            if arg.name in bound:
                self.report("E202", f"block `{name}`: `{arg.name}` is given twice", arg.span)
                failed = True
                continue
            try:
                bound[arg.name] = self.expr(arg.value, env)
            except Abort:
                failed = True
        if failed:
            raise Abort()
        scope = dict(value.env)
        for param in definition.params:
            if param.name in bound:
                scope[param.name] = bound[param.name]
            elif param.default is not None:
                scope[param.name] = self.expr(param.default, scope)  # defaults may use earlier parameters
            else:
                self.fail("E203", f"block `{name}` needs the argument `{param.name}`", node.span,
                          f"write `{name}({', '.join(p.name + ': ...' for p in definition.params if p.default is None)})`")
        self._expanding.append(name)
        try:
            body = self.layers(definition.body, scope)
        finally:
            self._expanding.pop()
        body = R.RLayers(tuple(_used_at(item, name, node.span) for item in body.items), body.span)
        if self._expanded > MAX_EXPANDED_LAYERS:
            raise Abort()  # a block inside passed the limit and said so
        self._expanded += len(body.items)
        if self._expanded > MAX_EXPANDED_LAYERS:
            self.fail("E107", f"blocks write out more than {MAX_EXPANDED_LAYERS:,} layers", node.span,
                      "use `repeat n { ... }` for long repetitions; it is not written out")
        return body

    # expressions
    def expr(self, node, env: dict) -> R.RValue:
        """The raw value of an expression; raises `Abort` after reporting a problem."""
        if isinstance(node, ast.Number):
            return R.RVal(self._number(node), node.span)
        if isinstance(node, ast.String):
            return R.RVal(node.value, node.span)
        if isinstance(node, ast.Symbol):
            return self._symbol(node, env)
        if isinstance(node, ast.Paren):
            inner = self.expr(node.expr, env)
            return R.RVal(inner.value, node.span, inner.symbol) if isinstance(inner, R.RVal) else inner
        if isinstance(node, ast.ListExpr):
            return R.RList(tuple(self.expr(item, env) for item in node.items), node.span)
        if isinstance(node, ast.Call):
            named = self.named_layers(node, env) if node.name in env else None
            if named is None:
                return self.call(node, env)
            if isinstance(env[node.name], R.RBlockDef) or len(named) != 1:
                return R.RLayers(tuple(named), node.span)
            return named[0]
        if isinstance(node, ast.Unary):
            operand = self._numeric(self.expr(node.operand, env), node.op)
            return R.RVal(-operand if node.op == "-" else operand, node.span)
        if isinstance(node, ast.BinOp):
            left = self._numeric(self.expr(node.left, env), node.op)
            right = self._numeric(self.expr(node.right, env), node.op)
            return R.RVal(self._arith(node, left, right), node.span)
        raise TypeError(f"unknown expression node {node!r}")

    def call(self, node: ast.Call, env: dict) -> R.RCall:
        """`name(args)`: every argument is evaluated and checked before giving up."""
        args, kwargs = [], {}
        failed = False
        for arg in node.args:
            try:
                value = self.expr(arg.value, env)
            except Abort:
                failed = True
                continue
            if arg.name is None:
                if kwargs:
                    self.report("E202", "a positional argument cannot follow a named one", arg.span)
                    failed = True
                args.append(value)
            elif arg.name in kwargs:
                self.report("E202", f"argument `{arg.name}` is given twice", arg.span)
                failed = True
            else:
                kwargs[arg.name] = value
        if failed:
            raise Abort()
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
            if isinstance(value, R.RBlockDef):  # a block used as a value, with its defaults
                return self.expand(value, ast.Call(node.name, (), node.span, parens=False), env)
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
            self.fail("E014", f"{node.text} is not a number that can be used", node.span)
        return self._check_range(value, node.span)

    def _check_range(self, value, span):
        if isinstance(value, float) and not math.isfinite(value):
            self.fail("E014", "number is too large", span)
        if isinstance(value, int) and abs(value) > MAX_INT:
            self.fail("E014", "number is too large (more than 2**53)", span)
        return value

    def _numeric(self, value: R.RValue, op: str):
        if isinstance(value, R.RVal) and isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
            return value.value
        shown = R.plain(value) if not isinstance(value, (R.RBlock, R.RLayers)) else "a block"
        if isinstance(value, R.RVal) and value.symbol:
            hint = did_you_mean(value.value, self._variables) or (
                f"`{value.value}` is not a variable; define it with `let {value.value} = ...`")
            self.fail("E102", f"`{value.value}` is not defined, so `{op}` cannot use it", value.span, hint)
        self.fail("E103", f"`{op}` needs numbers, got {shown!r}", value.span)

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
                        self.fail("E014", "number is too large (more than 2**53)", node.span)
                    result = left**right
                else:
                    result = float(left) ** float(right)
                    if isinstance(result, complex):
                        self.fail("E103", "a negative number to a fractional power is not a real number", node.span)
        except ZeroDivisionError:
            self.fail("E103", "division by zero", node.span)
        except OverflowError:
            self.fail("E014", "number is too large", node.span)
        return self._check_range(result, node.span)


def _used_at(value, name: str, use: Span):
    """A value written inside block `name`, marked as coming from its use at `use` (for diagnostics)."""
    def mark(span):
        return None if span is None else replace(span, via=span.via + ((name, use),))

    if isinstance(value, R.RVal):
        return value._replace(span=mark(value.span))
    if isinstance(value, (R.RList, R.RLayers)):
        return value._replace(items=tuple(_used_at(v, name, use) for v in value.items), span=mark(value.span))
    if isinstance(value, R.RCall):
        return value._replace(args=tuple(_used_at(v, name, use) for v in value.args),
                              kwargs={k: _used_at(v, name, use) for k, v in value.kwargs.items()},
                              overrides={k: _used_at(v, name, use) for k, v in value.overrides.items()},
                              span=mark(value.span), name_span=mark(value.name_span))
    if isinstance(value, R.RRepeat):
        return value._replace(count=_used_at(value.count, name, use), body=_used_at(value.body, name, use),
                              span=mark(value.span))
    if isinstance(value, R.RWrapper):
        return value._replace(call=_used_at(value.call, name, use), body=_used_at(value.body, name, use),
                              span=mark(value.span))
    return value


def _first_kwarg(call: R.RCall) -> str:
    return next(iter(call.kwargs), "name")


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


# ---- files and extends -----------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _parse_cached(path: str, mtime_ns: int, size: int) -> ast.Document:
    return parse(decode(read_source(path), path), path)


def load_document(path: str | Path) -> ast.Document:
    """Parse a file, reusing the parse while the file is unchanged; SpecError (E001, E003) for a path that
    is not a regular file of a spec's size (`ganspec.syntax.parser.read_source`)."""
    path = str(path)
    status = stat_source(path)
    return _parse_cached(path, status.st_mtime_ns, status.st_size)


def evaluate_document(doc: ast.Document, diags: list, stack: tuple[str, ...], files: list,
                      forced: dict | None = None) -> tuple[str, R.RBlock, dict]:
    """Evaluate a document, merged over the files it extends; returns (name, block, env)."""
    exp = doc.experiment
    parent_block = None
    parent_env: dict = {}
    parent_doc = None
    if exp.extends is not None and not exp.extends.value.endswith(".gan"):
        # Checked before the path is touched: a spec reads only other specs, and never shows a line of any
        # other file (`extends "/proc/self/environ"` quoted the environment in its error).
        diags.append(error("E108", f"cannot extend {exp.extends.value!r}: `extends` takes a .gan spec file",
                           exp.extends.span, 'name a spec, like extends "base.gan"'))
    elif exp.extends is not None:
        parent_path = _parent_path(doc.file, exp.extends.value)
        key = os.path.realpath(parent_path)
        if key in stack:
            chain = " -> ".join(Path(p).name for p in stack + (key,))
            diags.append(error("E101", f"`extends` makes a cycle: {chain}", exp.extends.span))
        elif len(stack) >= MAX_EXTENDS_DEPTH:
            diags.append(error("E101", f"`extends` goes more than {MAX_EXTENDS_DEPTH} files deep",
                               exp.extends.span, "flatten the chain: a spec rarely needs more than a few parents"))
        else:
            try:
                parent_doc = load_document(parent_path)
            except SpecError as exc:
                hint = f"the path is relative to {Path(doc.file).parent or '.'}"
                unreadable = next((d for d in exc.diagnostics if d.code == "E001"), None)
                if unreadable is not None:
                    reason = "file not found" if not os.path.lexists(parent_path) else \
                        unreadable.message.removeprefix(f"cannot read {parent_path}: ")
                    diags.append(error("E100", f"cannot extend {exp.extends.value!r}: {reason}",
                                       exp.extends.span, hint))
                else:
                    diags.extend(exc.diagnostics)
            if parent_doc is not None:
                files.append(os.path.normpath(parent_path))
                # First pass: the parent's variables, visible to this file (its settings are not evaluated
                # here, so a chain of N files costs O(N^2) variable passes, not 2^N evaluations).
                parent_env = document_env(parent_doc, stack + (key,), forced)
    evaluator = Evaluator(diags, env=parent_env, forced=forced)
    env = evaluator.env
    for stmt in doc.before:
        if isinstance(stmt, ast.BlockDef):
            evaluator.define(stmt, env)
        else:
            evaluator.let(stmt, env)
    block = evaluator.statements(exp.items, env, exp.span)
    for let in doc.after:
        evaluator.let(let, env)
    own_vars = {name: value for name, value in env.items() if parent_env.get(name) is not value}
    if parent_doc is not None:
        # Second pass: the parent evaluated with this file's variables in force.
        forced_vars = {**(forced or {}), **own_vars}
        _, parent_block, _ = evaluate_document(parent_doc, diags, stack + (os.path.realpath(parent_doc.file),),
                                               files, forced_vars)
        block = R.merge(parent_block, block)
    return exp.name, block, env


MAX_EXTENDS_DEPTH = 64  # files in one `extends` chain (Python's recursion limit is far beyond it)


def document_env(doc: ast.Document, stack: tuple[str, ...], forced: dict | None) -> dict:
    """The variables a document defines, over those of the files it extends, with `forced` ones in force:
    what a file that extends it sees. Only its `let`s and `block`s are evaluated (settings never change
    variables); problems are left for `evaluate_document` to report."""
    exp = doc.experiment
    parent_env: dict = {}
    if exp.extends is not None and exp.extends.value.endswith(".gan"):  # else E108, from evaluate_document
        parent_path = _parent_path(doc.file, exp.extends.value)
        key = os.path.realpath(parent_path)
        if key not in stack and len(stack) < MAX_EXTENDS_DEPTH:
            try:
                parent_env = document_env(load_document(parent_path), stack + (key,), forced)
            except SpecError:
                pass
    evaluator = Evaluator([], env=parent_env, forced=forced)
    env = evaluator.env
    for stmt in (*doc.before, *(s for s in exp.items if isinstance(s, (ast.Let, ast.BlockDef))), *doc.after):
        if isinstance(stmt, ast.BlockDef):
            evaluator.define(stmt, env)
        else:
            evaluator.let(stmt, env)
    return env


def _parent_path(file: str, target: str) -> str:
    base = Path(file).parent if file not in ("<string>", "-") else Path(".")
    return str(base / target)


def apply_override(block: R.RBlock, path: str, text: str, diags: list, env: dict) -> None:
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
    if len(doc.experiment.items) > 1:  # `--set 'seed=1 train.batch 999'`: the rest would be dropped unseen
        diags.append(error("E105", f"--set {path}={text}: one setting per --set, but this value holds "
                                   f"{len(doc.experiment.items)}", None,
                           "give each setting its own --set, e.g. --set seed=1 --set train.batch=999"))
        return
    sub = Evaluator(diags, env=env).statements([stmt], dict(env), stmt.span)
    merged = R.merge(block, sub)
    block.entries, block.key_spans = merged.entries, merged.key_spans
