"""The typed spec (IR): pydantic models of an experiment, the registries of layers and components,
and how `.gan` syntax resolves into them."""
