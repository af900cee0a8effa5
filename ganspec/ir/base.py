"""Base classes of the typed spec (IR) and the registries that extend it.

Every IR node is a frozen pydantic model with `extra="forbid"`. Source spans are
private attributes, so `model_dump()` (and therefore `diff`) sees meaning only.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ganspec.diagnostics import Span


class Node(BaseModel):
    """A typed spec node; remembers where in the source it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    _span: Span | None = PrivateAttr(default=None)
    _field_spans: dict = PrivateAttr(default_factory=dict)

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
        return self._field_spans.get(name, self._span)

    def located(self, span: Span | None, field_spans: dict | None = None):
        """Attach source positions (private, outside model_dump)."""
        self._span = span
        if field_spans:
            self._field_spans = dict(field_spans)
        return self


class Component(Node):
    """A registered thing written as a call: `adam(lr: 1e-4)`, `relu`, `ring(8, 1, 0.01)`.

    `positional` names the parameters that may be given without a name, in order;
    `varargs` names a tuple field that collects all positional arguments.
    """

    positional: ClassVar[tuple[str, ...]] = ()
    varargs: ClassVar[str | None] = None
    summary: ClassVar[str] = ""
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


class Registry:
    """Name -> component class for one extensible concept (layers, objectives, ...)."""

    def __init__(self, concept: str):
        self.concept = concept
        self.items: dict[str, type[Component]] = {}

    def register(self, cls: type[Component]) -> type[Component]:
        name = cls.kind_name()
        if name in self.items:
            raise ValueError(f"{self.concept} {name!r} registered twice")
        self.items[name] = cls
        return cls

    def __contains__(self, name: str) -> bool:
        return name in self.items

    def __getitem__(self, name: str) -> type[Component]:
        return self.items[name]

    def names(self) -> list[str]:
        return sorted(self.items)

    def annotation(self) -> Any:
        """A discriminated-union type over everything registered so far."""
        classes = tuple(self.items.values())
        union = classes[0] if len(classes) == 1 else Union[classes]  # type: ignore[valid-type]
        if len(classes) == 1:
            return Annotated[union, self]
        return Annotated[union, Field(discriminator="kind"), self]


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
