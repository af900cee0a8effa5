"""The language reference of every registered name, generated from the registries,
so the docs never disagree with the code: `python -m ganspec.reference > docs/reference.md`.
Loaded plugins' names are listed with the plugin they come from (`--plugin MODULE`)."""

from __future__ import annotations

import inspect

from pydantic_core import PydanticUndefined

from ganspec.ir.components import (
    CONSTRAINTS,
    LR_SCHEDULES,
    METRICS,
    OBJECTIVES,
    OPTIMIZERS,
    PRIORS,
    SCHEDULES,
    SOURCES,
)
from ganspec.ir.augmentations import AUGMENTATIONS
from ganspec.ir.auxiliary import AUXILIARY
from ganspec.ir.initializers import INITIALIZERS
from ganspec.ir.spec import Network, Spec
from ganspec.ir.layers import LAYERS, WRAPPERS

SECTIONS = [
    ("Data sources (`data.source`)", SOURCES),
    ("Latent priors (`latent`)", PRIORS),
    ("Layers (inside `generator { }` and `critic { }`)", LAYERS),
    ("Blocks (`name { layers }`; plus `repeat N { layers }`)", WRAPPERS),
    ("Initializers (`init:`, `bias_init:` of a weight layer, or of a network for all its weight layers)",
     INITIALIZERS),
    ("DiffAugment policies (`tricks.diffaugment [...]`)", AUGMENTATIONS),
    ("Objectives (`objective`)", OBJECTIVES),
    ("Constraints and regularizers (`constraint`, repeatable)", CONSTRAINTS),
    ("Step schedules (`steps.schedule`)", SCHEDULES),
    ("Auxiliary losses on the critic's heads (`auxiliary.losses`; `auxiliary.optimizer` for the code "
     "losses' information update)", AUXILIARY),
    ("Optimizers (`optimizer.generator`, `optimizer.critic`)", OPTIMIZERS),
    ("Learning-rate schedules (`schedule:` argument of an optimizer)", LR_SCHEDULES),
    ("Metrics (`evaluate.metrics`, or repeatable `metric`)", METRICS),
]


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return "required"
    if hasattr(value, "text"):
        return value.text()
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if value == "":
        return '""'
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]"
    return str(value)


def _params(cls) -> str:
    parts = []
    for name, field in cls.model_fields.items():
        if name in ("kind", "layers"):
            continue
        pos = " (positional)" if name in cls.positional or name == cls.varargs else ""
        parts.append(f"`{name}`={_default(field)}{pos}")
    return ", ".join(parts) or "none"


def _doc(cls) -> str:
    return " ".join(inspect.getdoc(cls).split()) if cls.__doc__ else ""


def _section_settings(model, prefix: str, out: list[str]) -> None:
    for name, field in model.model_fields.items():
        if name == "name":
            continue
        ann = field.annotation
        sub = getattr(ann, "model_fields", None)
        out.append(f"| `{prefix}{name}` | {_default(field) if sub is None else 'block'} |")


def render() -> str:
    lines = ["# ganspec language reference (generated)", "",
             "Generated from the registries by `python -m ganspec.reference`; a test keeps it current.",
             "Every name below is written as a call, `name(positional, key: value)`; a name without",
             "arguments may drop the parentheses (`relu`, `objective hinge`).", ""]
    lines += ["## Settings and their defaults", "", "| setting | default |", "| --- | --- |"]
    for name, field in Spec.model_fields.items():
        if name == "name":
            continue
        model = field.annotation
        fields = getattr(model, "model_fields", None)
        if fields and name not in ("generator", "critic"):
            for sub, sub_field in fields.items():
                lines.append(f"| `{name}.{sub}` | {_default(sub_field)} |")
        else:
            lines.append(f"| `{name}` | {_default(field)} |")
        if model is Network:
            for option, option_field in fields.items():
                if option != "layers":
                    lines.append(f"| `{name}({option}: ...)` | {_default(option_field)} |")
    lines.append("")
    lines += ["## Definitions", "", "| written | what it is |", "| --- | --- |",
              "| `let name = expression` | a variable, usable in any expression below it; a file that extends "
              "this one may set it |",
              "| `let bn = batchnorm(epsilon: 1e-5)` | a named layer: `bn` in a stack is that layer, "
              "`bn(momentum: 0.9)` the same with some arguments changed by name; a list of layers is spliced |",
              "| `block name(a, b: default) { layers }` | a reusable, parameterised layer stack: `name(64)` in a "
              "stack stands for its layers with the parameters bound (a parameter may hold layers, a list of "
              "them, or `none` for no layer); defined before the experiment, inside it or inside a stack; a file "
              "that extends this one may redefine it |",
              ""]
    for title, registry in SECTIONS:
        lines += [f"## {title}", "", "| name | parameters | what it is |", "| --- | --- | --- |"]
        for name in registry.names():
            cls = registry[name]
            origin = "" if registry.origins[name] == "built-in" else f" (from {registry.origins[name]})"
            lines.append(f"| `{name}` | {_params(cls)} | {_doc(cls)}{origin} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    from ganspec.plugins import load_plugins

    parser = argparse.ArgumentParser(description="Print the language reference, plugins' names included.")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="load a plugin first")
    load_plugins(parser.parse_args().plugin)
    print(render())
