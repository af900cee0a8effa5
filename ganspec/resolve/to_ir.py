"""Raw values -> typed IR nodes: match settings and arguments to pydantic fields, and build the nodes.

    Typer(diagnostics).model(Spec, block, "", extra={"name": name}) -> Spec

A problem is reported and raises `Abort`. Recovery points: every setting of a
block and every argument of a call is converted even after one fails, and a
block's unknown settings are all reported; a list or a layer stack stops at its
first bad item.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ganspec.diagnostics import Span, did_you_mean
from ganspec.ir.base import Component, Node, Registry, registry_of
from ganspec.ir.components import all_registries
from ganspec.ir.layers import LAYERS, WRAPPERS, Repeat
from ganspec.ir.shapes import largest_repeat, written_layers
from ganspec.resolve import raw as R
from ganspec.resolve.abort import Abort, Reporter
from ganspec.resolve.evaluate import MAX_EXPANDED_LAYERS


class Typer(Reporter):
    """Builds IR models from raw blocks and calls, turning every problem into a diagnostic."""

    # blocks and calls
    def model(self, cls: type[Node], block: R.RBlock, where: str, extra: dict | None = None) -> Node:
        """A block `{ setting value ... }` -> a node of type `cls`."""
        fields = cls.model_fields
        raws: dict[str, R.RValue] = {}
        failed = False
        for key, raw in block.entries.items():
            if key not in fields or key == "kind":
                hint = did_you_mean(key, [f for f in fields if f != "kind"])
                notes = (f"settings of {where or 'an experiment'}: {', '.join(f for f in fields if f != 'kind')}",)
                self.report("E200", f"unknown setting `{key}`" + (f" in {where}" if where else ""),
                            block.key_spans.get(key, raw.span), hint, notes)
                failed = True
                continue
            raws[key] = raw
        values, spans = self.fields(fields, raws, lambda key: _join(where, key))
        if failed:
            raise Abort()
        return self.construct(cls, {**(extra or {}), **values}, block.span, spans, where)

    def component(self, registry: Registry, raw: R.RValue, where: str, extra: dict | None = None) -> Component:
        """A name or call from `registry` -> that component."""
        if isinstance(raw, R.RVal) and isinstance(raw.value, str):
            raw = R.bare_call(raw)
        if not isinstance(raw, R.RCall):
            names = registry.names()
            self.fail("E204", f"{where} expects a {registry.concept} such as {names[0]}(...), got {_describe(raw)}",
                      raw.span, notes=(f"{registry.concept}s: {', '.join(names)}",))
        if raw.name not in registry:
            other = _other_registry(raw.name, registry)
            hint = did_you_mean(raw.name, registry.names())
            if other and not hint:
                hint = f"`{raw.name}` is a {other}, not a {registry.concept}"
            if not hint:  # a spec never loads code: a plugin's names exist once the command loads it
                hint = (f"if `{raw.name}` comes from a plugin, load it: `--plugin MODULE`, $GANSPEC_PLUGINS, "
                        "or install its package")
            self.fail("E201", f"unknown {registry.concept} `{raw.name}`", raw.name_span or raw.span, hint,
                      (f"{registry.concept}s: {', '.join(registry.names())}",))
        return self.bind(registry[raw.name], raw, extra)

    def bind(self, cls: type[Component], raw: R.RCall, extra: dict | None = None) -> Component:
        """Match a call's arguments to a component's parameters and build it."""
        name = raw.name
        fields = {k: v for k, v in cls.model_fields.items() if k != "kind"}
        raws: dict[str, R.RValue] = {}
        failed = False
        if cls.varargs:
            if raw.args:
                raws[cls.varargs] = R.RList(tuple(raw.args), raw.span)
        else:
            if len(raw.args) > len(cls.positional):
                limit = len(cls.positional)
                names = ", ".join(cls.positional)
                self.report("E202", f"{name}() takes {limit} positional argument{'s' if limit != 1 else ''}"
                            + (f" ({names})" if names else "") + f", got {len(raw.args)}",
                            raw.args[limit].span, f"name the others, like `{_first_named(fields, cls)}: ...`")
                failed = True
            for pname, value in zip(cls.positional, raw.args):
                raws[pname] = value
        for key, value in list(raw.kwargs.items()) + list(raw.overrides.items()):
            if key not in fields or (extra and key in extra):
                hint = did_you_mean(key, fields)
                self.report("E202", f"{name}() has no argument `{key}`", value.span, hint,
                            (f"arguments of {name}: {', '.join(fields) or 'none'}",))
                failed = True
                continue
            if key in raws and key in raw.kwargs and value is raw.kwargs[key]:
                self.report("E202", f"{name}(): `{key}` is given twice (by position and by name)", value.span)
                failed = True
                continue
            raws[key] = value
        if failed:
            raise Abort()
        values, spans = self.fields(fields, raws, lambda key: f"{name}.{key}", code="E202")
        return self.construct(cls, {**(extra or {}), **values}, raw.span, spans, name)

    def fields(self, fields, raws: dict, label, code: str = "E204") -> tuple[dict[str, Any], dict[str, Span]]:
        """Convert raw values to their fields' types: (values, spans). Every field is tried before giving up.
        `code`: of a value of the wrong type (E202 for a call's arguments, E204 for settings)."""
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        failed = False
        for key, raw in raws.items():
            try:
                values[key] = self.value(fields[key].annotation, raw, label(key), fields[key], code)
            except Abort:
                failed = True  # reported; go on with the next field
                continue
            spans[key] = raw.span
        if failed:
            raise Abort()
        return values, spans

    def construct(self, cls, values, span, spans, where):
        """Build the pydantic node; each validation error becomes a diagnostic at its field."""
        try:
            obj = cls(**values)
        except ValidationError as exc:
            for item in exc.errors():
                self._validation(item, spans, span, where, cls)
            raise Abort() from None
        return obj.located(span, spans)

    def _validation(self, item, spans, span, where, cls):
        loc = item.get("loc") or ()
        field_name = str(loc[0]) if loc else ""
        target = spans.get(field_name, span)
        label = _join(where, field_name)
        if item["type"] == "missing":
            if issubclass(cls, Component):
                self.report("E203", f"{where}() needs the argument `{field_name}`", target)
            elif not where:
                required = ", ".join(n for n, f in cls.model_fields.items() if f.is_required() and n != "name")
                what = {"critic": "critic (or discriminator) network", "generator": "generator network",
                        "data": "`data` block", "latent": "`latent` prior"}.get(field_name, f"`{field_name}`")
                self.report("E205", f"the experiment has no {what}", target,
                            notes=(f"every experiment needs: {required}",))
            else:
                self.report("E205", f"{where} needs the setting `{field_name}`", target)
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
        self.report(code, f"{label} {msg}{suffix}", target, hint)

    def expansion(self, spec) -> None:
        """Each network may stand for at most MAX_EXPANDED_LAYERS layers written out, a repeat's body counted
        once per copy (`repeat 1000000 { relu }` is a million layers): checked on the typed spec, before
        any stage walks or builds a network copy by copy."""
        for role in ("generator", "critic"):
            network = getattr(spec, role)
            count = written_layers(network.layers)
            if count > MAX_EXPANDED_LAYERS:
                repeat = largest_repeat(network.layers)
                span = (repeat.field_span("count") or repeat.span) if repeat is not None else None
                self.report("E107", f"the {role} writes out {count:,} layers, more than {MAX_EXPANDED_LAYERS:,}",
                            span or network.span,
                            "a repeat's body counts once per copy: lower the count" if repeat is not None else None)

    # field values, one function per kind of annotation
    def value(self, annotation, raw: R.RValue, where: str, field_info=None, code: str = "E204"):
        """Convert one raw value to the type `annotation` of a field."""
        core, registry, optional = _unwrap(annotation)
        if field_info is not None:
            registry = registry or registry_of(field_info)
        if optional and isinstance(raw, R.RVal) and raw.value is None:
            return None
        if registry is not None:
            return self.registered(registry, raw, where, field_info)
        if get_origin(core) is tuple:
            return self.sequence(get_args(core), raw, where, code)
        if isinstance(core, type) and issubclass(core, Node):
            return self.section(core, raw, where)
        if isinstance(raw, R.RVal) and isinstance(raw.value, bool) and not _admits_bool(core):
            # Python's bool is an int (and pydantic's lax mode takes it as one): `batch true` would be 1.
            # Only fields that may hold true or false take them.
            self.fail(code, f"{where} must be {_wanted(core)}, not {str(raw.value).lower()}", raw.span)
        return self.plain(raw, where)

    def registered(self, registry: Registry, raw: R.RValue, where: str, field_info) -> Component:
        """A component field, such as `objective` or `optimizer.critic`."""
        if isinstance(raw, R.RBlock) and field_info is not None:
            default = field_info.get_default(call_default_factory=True)  # built only when it is needed
            if isinstance(default, Component):
                # `optimizer.critic.lr 1e-3` with no optimizer written: adjust the default one.
                raw = R.RCall(default.kind, (), {}, raw.span, dict(raw.entries), raw.span)
        return self.component(registry, raw, where)

    def sequence(self, item_types: tuple, raw: R.RValue, where: str, code: str = "E204") -> tuple:
        """A tuple field: a layer stack, `[a, b]`, or a single component for a list of them."""
        if _is_layer_stack(item_types):
            return self.layer_list(raw, where)
        any_length = len(item_types) == 2 and item_types[1] is Ellipsis
        if not isinstance(raw, R.RList):
            if any_length and isinstance(raw, (R.RVal, R.RCall)) and _unwrap(item_types[0])[1] is not None:
                raw = R.RList((raw,), raw.span)  # a single item for a list of components
            else:
                self.fail("E204", f"{where} expects a list like [a, b], got {_describe(raw)}", raw.span)
        if any_length:
            item_types = (item_types[0],) * len(raw.items)
        elif len(item_types) != len(raw.items):
            self.fail("E204", f"{where} expects {len(item_types)} values, got {len(raw.items)}", raw.span)
        return tuple(self.value(item_type, item, f"{where}[{i}]", code=code)
                     for i, (item_type, item) in enumerate(zip(item_types, raw.items)))

    def section(self, cls: type[Node], raw: R.RValue, where: str) -> Node:
        """A nested block such as `train { ... }`; `ema true` means all its defaults."""
        if isinstance(raw, R.RBlock):
            return self.model(cls, raw, where)
        if isinstance(raw, R.RVal) and raw.value is True and not _has_required(cls):
            return self.construct(cls, {}, raw.span, {}, where)
        self.fail("E204", f"{where} expects a block {{ ... }}, got {_describe(raw)}", raw.span,
                  f"write `{where.split('.')[-1]} {{ setting value ... }}`")

    def plain(self, raw: R.RValue, where: str):
        """A number, string, bool or list of them; pydantic checks the type when the node is built."""
        if isinstance(raw, R.RVal):
            return raw.value
        if isinstance(raw, R.RList):
            return [R.plain(v) for v in raw.items]
        self.fail("E204", f"{where} expects a single value, got {_describe(raw)}", raw.span)

    # layer stacks
    def layers(self, raw: R.RLayers, where: str) -> tuple:
        """A layer stack; the first bad layer stops it."""
        return tuple(self.layer(item, where) for item in raw.items)

    def layer_list(self, raw: R.RValue, where: str) -> tuple:
        """A layer stack written as a value: `[upsample, conv(64, kernel: 1)]`, one layer, or a block's layers."""
        if isinstance(raw, R.RLayers):
            return self.layers(raw, where)
        items = raw.items if isinstance(raw, R.RList) else (raw,)
        layers = []
        for item in items:
            if isinstance(item, R.RVal) and item.value is None:
                continue  # `none`: an optional layer left out (a block's parameter)
            if isinstance(item, R.RLayers):
                layers.extend(self.layers(item, where))
            elif isinstance(item, R.RVal) and item.symbol and isinstance(item.value, str):
                layers.append(self.layer(R.bare_call(item), where))
            elif isinstance(item, (R.RCall, R.RRepeat, R.RWrapper)):
                layers.append(self.layer(item, where))
            else:
                self.fail("E204", f"{where} expects layers, like [upsample, conv(64, kernel: 1)], got {_describe(item)}",
                          item.span)
        return tuple(layers)

    def layer(self, item: R.RCall | R.RRepeat | R.RWrapper, where: str):
        """One item of a layer stack: a layer, `repeat n { ... }` or a wrapping block."""
        if isinstance(item, R.RCall):
            if item.name in WRAPPERS and item.name not in LAYERS:
                self.fail("E204", f"`{item.name}` is a block: write `{item.name} {{ layers... }}`", item.span)
            return self.component(LAYERS, item, where)
        if isinstance(item, R.RRepeat):
            return self.repeat(item, where)
        return self.wrapper(item, where)

    def repeat(self, item: R.RRepeat, where: str) -> Repeat:
        """`repeat n { ... }`: the body and the count are both checked before giving up."""
        failed = False
        try:
            body = self.layers(item.body, where)
        except Abort:
            failed = True
        try:
            count = self.value(int, item.count, "repeat count")
        except Abort:
            failed = True
        if failed:
            raise Abort()
        return self.construct(Repeat, {"count": count, "layers": body}, item.span, {"count": item.count.span},
                              "repeat")

    def wrapper(self, item: R.RWrapper, where: str):
        """`residual { ... }` and the other blocks that wrap a layer stack."""
        if item.call.name not in WRAPPERS:
            hint = did_you_mean(item.call.name, WRAPPERS.names())
            self.fail("E201", f"unknown block `{item.call.name}`", item.call.name_span or item.call.span,
                      hint, (f"blocks: repeat, {', '.join(WRAPPERS.names())}",))
        body = self.layers(item.body, where)
        layer = self.component(WRAPPERS, item.call, where, extra={"layers": body})
        return layer.located(item.span, layer._field_spans)


_UNWRAPPED: dict[int, tuple] = {}  # id(annotation) -> (annotation, what `_unwrap` made of it)


def _unwrap(annotation):
    """(core type, registry, allows None) of a field annotation; worked out once per annotation object
    (fields keep theirs for good), as every value of every spec asks."""
    known = _UNWRAPPED.get(id(annotation))
    if known is not None and known[0] is annotation:
        return known[1]
    unwrapped = _unwrap_now(annotation)
    _UNWRAPPED[id(annotation)] = (annotation, unwrapped)  # holding the annotation keeps its id its own
    return unwrapped


def _unwrap_now(annotation):
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


def _admits_bool(annotation) -> bool:
    """Whether a field of this type may hold true or false (bool, Any, a Literal of them, a union with one)."""
    if annotation is bool or annotation is Any or annotation is object:
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return _admits_bool(get_args(annotation)[0])
    if origin is Literal:
        return any(isinstance(arg, bool) for arg in get_args(annotation))
    if origin is Union or (origin is not None and str(origin) == "types.UnionType"):
        return any(_admits_bool(arg) for arg in get_args(annotation))
    return False


def _wanted(annotation) -> str:
    """What a field that takes no true or false wants, in words."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    arms = get_args(annotation) if get_origin(annotation) is Union else (annotation,)
    cores = [get_args(arm)[0] if get_origin(arm) is Annotated else arm for arm in arms]
    if float in cores:
        return "a number"
    if int in cores:
        return "an integer"
    if str in cores or any(get_origin(core) is Literal for core in cores):
        return "a name or a string"
    return "a value of another kind"


def _is_layer_stack(item_types: tuple) -> bool:
    """Whether a tuple field holds layers (a network's stack, a residual's shortcut)."""
    from ganspec.ir import layers

    return len(item_types) == 2 and item_types[1] is Ellipsis and item_types[0] is layers.AnyLayer


def _has_required(cls) -> bool:
    return any(f.is_required() for f in cls.model_fields.values())


def _first_named(fields, cls) -> str:
    for name in fields:
        if name not in cls.positional:
            return name
    return "name"


def _other_registry(name: str, registry: Registry) -> str | None:
    for other in all_registries():
        if other is not registry and name in other:
            return other.concept
    return None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


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
