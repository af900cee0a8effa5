"""The typed spec (IR): pydantic models of an experiment, the registries of layers and components,
and the shapes a spec implies. `.gan` syntax becomes these models in `ganspec.resolve`."""
