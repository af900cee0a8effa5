"""The typed spec (IR): pydantic models of an experiment, the registries of layers and components,
and the shapes a spec implies. `.gan` syntax becomes these models in `ganspec.resolve`.

The modules that define models do without `from __future__ import annotations`: pydantic reads the
annotations of every base class again for each subclass, and a string annotation is compiled and
evaluated each time (more than a thousand times for the registries), where a real one is not. A
forward reference is quoted by hand."""
