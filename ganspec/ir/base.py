"""Base classes of the typed spec (IR) and the registries that extend it.

Every IR node is a frozen pydantic model with `extra="forbid"`. Source spans are
attributes outside the fields, so `model_dump()` (and therefore `diff`) sees meaning only.
"""

from contextvars import ContextVar
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError, PydanticKnownError, core_schema

from ganspec.diagnostics import Span
from ganspec.plugins import spare_pydantic_plugin_scan

spare_pydantic_plugin_scan()  # before the first model is built (ganspec.plugins says why)


class Node(BaseModel):
    """A typed spec node; remembers where in the source it came from."""

    # defer_build: a class's validator is built when it first validates, so `validate` pays only for the
    # classes its specs use (dozens of registered components stay unbuilt).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    # Where the node was written: set by `located`, kept outside the fields, so that `model_dump()`,
    # `diff` and equality see meaning only. Plain attributes, not pydantic private attributes: those
    # cost a call chain as deep as the class hierarchy on every node built.
    _span: ClassVar[Span | None] = None
    _field_spans: ClassVar[dict | None] = None

    @property
    def span(self) -> Span | None:
        return self._span

    def __eq__(self, other) -> bool:
        """Equal in meaning: positions in the source do not count."""
        if type(self) is not type(other):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = BaseModel.__hash__

    def field_span(self, name: str) -> Span | None:
        """Span of one field's value, or the node's own span when it was defaulted."""
        spans = self._field_spans
        return self._span if spans is None else spans.get(name, self._span)

    def located(self, span: Span | None, field_spans: dict | None = None):
        """Attach source positions (outside model_dump); returns the node."""
        object.__setattr__(self, "_span", span)  # the node is frozen; its position is not its meaning
        if field_spans:
            object.__setattr__(self, "_field_spans", dict(field_spans))
        return self


class Component(Node):
    """A registered thing written as a call: `adam(lr: 1e-4)`, `relu`, `ring(8, 1, 0.01)`.

    `positional` names the parameters that may be given without a name, in order;
    `varargs` names a tuple field that collects all positional arguments.
    """

    positional: ClassVar[tuple[str, ...]] = ()
    varargs: ClassVar[str | None] = None
    summary: ClassVar[str] = ""
    # "module:attribute" of a plugin component's training half (its Keras builder, losses, rule...),
    # imported when training first needs it (`ganspec.plugins.Implementations`); built-ins fill the
    # tables themselves.
    implementation: ClassVar[str | None] = None
    kind: str

    @classmethod
    def kind_name(cls) -> str:
        return cls.model_fields["kind"].default

    def text(self, full: bool = False) -> str:
        """This component as .gan source, showing only values that differ from defaults
        (all values if `full`): `conv(64, kernel: 5, stride: 2)`."""
        positional, named = [], []
        data = self.model_dump(mode="json", exclude={"kind", "layers"})
        if self.varargs:
            positional = [_gan_value(v) for v in data.pop(self.varargs)]
        fields = type(self).model_fields
        leading = True
        for name in self.positional:
            if name not in data:
                continue
            if leading and fields[name].is_required():
                positional.append(_gan_value(data.pop(name)))
            else:
                leading = False
        for name, value in data.items():
            field = fields[name]
            if not full and not field.is_required() and field.get_default(call_default_factory=True) == getattr(
                    self, name):
                continue
            named.append(f"{name}: {_gan_value(value)}")
        args = positional + named
        return f"{self.kind}({', '.join(args)})" if args else self.kind


# Who is registering now: the plugin `ganspec.plugins` is importing, so that a name clash can say
# which plugin each of the two names came from.
REGISTERING_FOR: ContextVar[str | None] = ContextVar("ganspec_registering_for", default=None)


class NameClash(ValueError):
    """Two components of one registry (or of registries sharing a field) have the same name."""


class Registry:
    """Name -> component class for one extensible concept (layers, objectives, ...).

    A field typed `REGISTRY.annotation()` accepts whatever is registered when it is validated,
    not only what was registered when the model class was defined: plugins can add classes
    later, and specs, resolved.json files and the JSON Schema see them as they see built-ins.
    """

    def __init__(self, concept: str):
        self.concept = concept
        self.items: dict[str, type[Component]] = {}
        self.origins: dict[str, str] = {}  # name -> "built-in" or "plugin `NAME`" or "module `NAME`"
        self.peers: tuple[Registry, ...] = ()  # registries sharing a field with this one, so one namespace

    def register(self, cls: type[Component]) -> type[Component]:
        name = cls.kind_name()
        origin = _origin(cls)
        for registry in (self, *self.peers):
            if name in registry.items:
                raise NameClash(f"{_described(self.concept, name, origin, cls)} clashes with the "
                                f"{_described(registry.concept, name, registry.origins[name], registry.items[name])}"
                                ": names must be unique")
        self.items[name] = cls
        self.origins[name] = origin
        return cls

    def __contains__(self, name: str) -> bool:
        return name in self.items

    def __getitem__(self, name: str) -> type[Component]:
        return self.items[name]

    def names(self) -> list[str]:
        return sorted(self.items)

    def annotation(self) -> Any:
        """The type of a field holding one of this registry's components (the registry is its metadata)."""
        return Annotated[Component, self]

    def __get_pydantic_core_schema__(self, source, handler):
        return _registered_schema((self,))

    def __get_pydantic_json_schema__(self, schema, handler):
        return _registered_json_schema((self,), handler)


class Registered:
    """Field metadata: one component from any of several registries (a layer or a block), which then
    share one namespace. `Annotated[Layer, Registered(LAYERS, WRAPPERS)]`."""

    def __init__(self, *registries: Registry):
        self.registries = registries
        for registry in registries:
            registry.peers = tuple(r for r in registries if r is not registry)

    def __get_pydantic_core_schema__(self, source, handler):
        return _registered_schema(self.registries)

    def __get_pydantic_json_schema__(self, schema, handler):
        return _registered_json_schema(self.registries, handler)


def _origin(cls) -> str:
    if cls.__module__.split(".")[0] == "ganspec":
        return "built-in"  # even when a plugin's import is what first imports ganspec's own modules
    plugin = REGISTERING_FOR.get()
    if plugin is not None:
        return f"plugin `{plugin}`"
    return f"module `{cls.__module__}`"


def _described(concept: str, name: str, origin: str, cls) -> str:
    where = f"{cls.__module__}.{cls.__qualname__}"
    if origin == "built-in":
        return f"built-in {concept} `{name}` ({where})"
    return f"{concept} `{name}` of {origin} ({where})"


def _lookup(registries: tuple[Registry, ...], kind) -> type[Component] | None:
    for registry in registries:
        if kind in registry.items:
            return registry.items[kind]
    return None


def _registered_schema(registries: tuple[Registry, ...]) -> core_schema.CoreSchema:
    """Validation by `kind` through the registries at validation time (instances of a registered class
    pass through; a dict is validated by the class its `kind` names); serialization by the value's own
    class, so every field of a subclass is written (as pydantic's SerializeAsAny)."""
    concept = " or ".join(r.concept for r in registries)

    def validate(value, info):
        if isinstance(value, Component):
            cls = _lookup(registries, value.kind)
            if cls is not None and isinstance(value, cls):
                return value
            raise PydanticCustomError("registered_type", "Input should be a {concept}, got {kind} ({cls})",
                                      {"concept": concept, "kind": value.kind, "cls": type(value).__name__})
        if not isinstance(value, dict):
            raise PydanticKnownError("model_attributes_type")
        if "kind" not in value:
            raise PydanticKnownError("union_tag_not_found", {"discriminator": "'kind'"})
        cls = _lookup(registries, value["kind"])
        if cls is None:
            expected = ", ".join(repr(name) for r in registries for name in r.items)
            raise PydanticKnownError("union_tag_invalid",
                                     {"discriminator": "'kind'", "tag": str(value["kind"]), "expected_tags": expected})
        return cls.model_validate(value, context=info.context)

    return core_schema.with_info_plain_validator_function(
        validate,
        serialization=core_schema.wrap_serializer_function_ser_schema(
            lambda value, serialize: serialize(value), schema=core_schema.any_schema()))


_SCHEMA_IN_PROGRESS: set[type] = set()  # classes whose JSON Schema is being generated (they may nest)


def _registered_json_schema(registries: tuple[Registry, ...], handler) -> dict:
    """JSON Schema of a registered field: `oneOf` the classes registered now, discriminated by `kind`."""
    choices = {}
    for registry in registries:
        for name, cls in registry.items.items():
            schema = cls.__pydantic_core_schema__
            if cls in _SCHEMA_IN_PROGRESS:  # a block inside a block: refer to the definition being written
                schema = core_schema.definition_reference_schema(_core_ref(schema))
            choices[name] = (cls, schema)
    schemas = {name: schema for name, (_, schema) in choices.items()}
    union = (next(iter(schemas.values())) if len(schemas) == 1
             else core_schema.tagged_union_schema(schemas, discriminator="kind"))
    started = {cls for cls, _ in choices.values()} - _SCHEMA_IN_PROGRESS
    _SCHEMA_IN_PROGRESS.update(started)
    try:  # inside `definitions`, so that each class becomes a $ref to its definition
        return handler(core_schema.definitions_schema(union, []))
    finally:
        _SCHEMA_IN_PROGRESS.difference_update(started)


def _core_ref(schema) -> str:
    while schema["type"] == "definitions":
        schema = schema["schema"]
    return schema.get("ref") or schema["schema_ref"]


def _gan_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value if value.isidentifier() else '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_gan_value(v) for v in value) + "]"
    if isinstance(value, dict) and "kind" in value:
        args = [f"{k}: {_gan_value(v)}" for k, v in value.items() if k != "kind"]
        return f"{value['kind']}({', '.join(args)})" if args else value["kind"]
    return str(value)


def registry_of(field_info) -> Registry | None:
    for item in field_info.metadata:
        if isinstance(item, Registry):
            return item
    return None
