"""Plugins: a researcher's own layers, objectives, constraints, metrics, priors, optimizers, data
sources and initializers, seen by every command as the built-ins are.

A plugin is a Python module that, when imported, registers IR classes in ganspec's registries
(`@LAYERS.register`, `@OBJECTIVES.register`, ...). Each class names its training half in
`implementation = "module:attribute"` (a Keras layer builder, an `ObjectiveLosses`, a constraint
rule, a metric function...), which is imported only when training first needs it, so the IR half
can stay free of TensorFlow and `validate` of a spec that uses it stays fast. README.md, "Extending
ganspec", has a complete example.

Plugins are loaded, each once, from: installed packages' entry points in the group `ganspec.plugins`;
the modules or files named in $GANSPEC_PLUGINS (separated by commas); and `--plugin MODULE` or
`--plugin path/to/file.py` on the command line. Never from a spec: nothing a `.gan` file says
imports code, so validating an untrusted spec stays safe.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

ENTRY_POINT_GROUP = "ganspec.plugins"
ENVIRONMENT_VARIABLE = "GANSPEC_PLUGINS"

_loaded: dict[str, object] = {}  # plugin name -> its module (or what its entry point named)


class PluginError(Exception):
    """A plugin could not be loaded, or a plugin component's training half imported (exit 2)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def load_plugins(named: list[str] | tuple[str, ...] = (), environ=None) -> list[str]:
    """Load entry-point plugins, then $GANSPEC_PLUGINS, then `named` (--plugin); the names loaded."""
    environ = os.environ if environ is None else environ
    names = []
    for entry_point in _entry_points():
        module = entry_point.value.partition(":")[0].strip()
        _load(entry_point.name, entry_point.load, f"entry point `{entry_point.value}`", f"python -c 'import {module}'")
        names.append(entry_point.name)
    listed = [name.strip() for name in environ.get(ENVIRONMENT_VARIABLE, "").split(",") if name.strip()]
    for name in [*listed, *named]:
        load_plugin(name)
        names.append(name)
    return names


def load_plugin(name: str) -> object:
    """Import one plugin: a module name (`my_gan_ext`) or the path of a .py file."""
    if name.endswith(".py") or os.sep in name or (os.altsep and os.altsep in name):
        return _load(name, lambda: _import_file(Path(name)), "file", f"python {name}")
    return _load(name, lambda: importlib.import_module(name), "module", f"python -c 'import {name}'")


def _load(name: str, importer, what: str, try_it: str) -> object:
    """Import a plugin once, attributing what it registers to `name`; `try_it` shows its traceback."""
    from ganspec.ir.base import REGISTERING_FOR, NameClash

    if name in _loaded:
        return _loaded[name]
    token = REGISTERING_FOR.set(name)  # what it registers is attributed to it
    try:
        loaded = importer()
        if callable(loaded) and not isinstance(loaded, types.ModuleType):
            loaded = loaded()  # an entry point naming a `register()` function
    except NameClash as exc:  # it names both sources
        raise PluginError(str(exc)[0].upper() + str(exc)[1:]) from None
    except Exception as exc:  # whatever the plugin's own code raises: name the plugin, no traceback
        raise PluginError(f"plugin `{name}` ({what}) failed to load: {type(exc).__name__}: {exc}",
                          f"`{try_it}` shows where") from None
    finally:
        REGISTERING_FOR.reset(token)
    _loaded[name] = loaded
    return loaded


def _entry_points():
    mentioned = _groups_mentioned((ENTRY_POINT_GROUP, PYDANTIC_GROUP))  # one look for both
    if PYDANTIC_GROUP not in mentioned:
        _tell_pydantic_no_plugins()
    if ENTRY_POINT_GROUP not in mentioned:
        return []
    from importlib.metadata import entry_points

    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _may_declare_entry_points(group: str = ENTRY_POINT_GROUP) -> bool:
    """False when no installed distribution can declare an entry point in `group` (`ganspec.plugins`)."""
    return group in _groups_mentioned((group,))


def _groups_mentioned(groups: tuple[str, ...]) -> set[str]:
    """Those of the entry-point `groups` that an installed distribution may declare, found by looking
    for each group's name in the `entry_points.txt` files that `importlib.metadata` would parse. Every
    command asks, and parsing every distribution's entry points costs more than a spec takes to
    validate; reading the files for a word or two does not. Wherever that look could miss a
    distribution (a zip or egg on the path, a finder of its own on sys.meta_path), every group is
    counted in and `importlib.metadata` decides."""
    import importlib.machinery

    everything = set(groups)
    if any(hasattr(finder, "find_distributions") and finder is not importlib.machinery.PathFinder
           for finder in sys.meta_path):
        return everything
    words = {group.encode(): group for group in groups}
    found: set[str] = set()
    for entry in sys.path:
        root = entry or "."
        try:
            names = os.listdir(root)
        except NotADirectoryError:
            return everything  # a zip file
        except OSError:
            continue  # a folder that is not there: importlib.metadata finds nothing in it either
        if os.path.basename(root).lower().endswith(".egg"):
            return everything
        for name in names:
            if name.lower().endswith((".dist-info", ".egg-info")):
                try:
                    with open(os.path.join(root, name, "entry_points.txt"), "rb") as file:
                        text = file.read()
                except OSError:
                    continue  # no entry points (or an egg-info file, which has none)
                found.update(group for word, group in words.items() if word in text)
                if len(found) == len(groups):
                    return found
    return found


PYDANTIC_GROUP = "pydantic"  # the entry-point group of pydantic's own plugins
PYDANTIC_LOADER = "pydantic.plugin._loader"


def spare_pydantic_plugin_scan() -> None:
    """Tell pydantic that no pydantic plugin is installed, when none is, before it looks for itself.

    The first model pydantic builds a validator for makes it import `importlib.metadata` and parse the
    entry points of every installed distribution, looking for the `pydantic` group; in an environment
    with TensorFlow or JAX that is a good part of `ganspec validate`'s start. When no `entry_points.txt`
    even mentions pydantic (`_groups_mentioned`: the look that finds `ganspec.plugins`, which does
    this in the same pass for the commands), what pydantic would find is nothing, so its loader module
    is given as one that says so. Wherever a distribution could declare a pydantic plugin, or pydantic
    has already looked, nothing changes."""
    if PYDANTIC_LOADER not in sys.modules and not _may_declare_entry_points(PYDANTIC_GROUP):
        _tell_pydantic_no_plugins()


def _tell_pydantic_no_plugins() -> None:
    if PYDANTIC_LOADER in sys.modules:  # pydantic has looked already (or been told)
        return
    loader = types.ModuleType(PYDANTIC_LOADER, "pydantic's plugin loader, for an environment without pydantic "
                                               "plugins (ganspec.plugins.spare_pydantic_plugin_scan)")
    loader.PYDANTIC_ENTRY_POINT_GROUP = PYDANTIC_GROUP
    loader._plugins = {}
    loader._loading_plugins = False
    loader.get_plugins = lambda: ()
    sys.modules[PYDANTIC_LOADER] = loader


def _import_file(path: Path):
    """Import a plugin file as the module named by its stem, so `implementation = "stem:attribute"` works."""
    import importlib.util

    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    module_name = path.stem
    if not module_name.isidentifier():
        raise ImportError(f"{path.name}: a plugin file's name must be a Python identifier")
    if module_name in sys.modules:
        raise ImportError(f"a module named `{module_name}` is already imported; rename {path.name}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


# ---- the training half ----------------------------------------------------------------------


class Implementations(dict):
    """kind -> the training half of one concept (`LAYER_BUILDERS`, `OBJECTIVE_LOSSES`, ...).

    Built-ins are entries from the start; a kind that is not an entry is looked up on its registered
    class's `implementation` ("module:attribute"), imported on first use and then kept."""

    def __init__(self, registries, entries=()):
        """`registries`: the registry (or tuple of registries) whose kinds this table implements."""
        super().__init__(entries)
        self.registries = registries if isinstance(registries, tuple) else (registries,)

    def __missing__(self, kind: str):
        found = self._implementation(kind, required=True)
        if found is None:
            raise KeyError(kind)
        return found

    def __contains__(self, kind) -> bool:
        return dict.__contains__(self, kind) or self._implementation(kind, required=False) is not None

    def get(self, kind, default=None):
        return self[kind] if kind in self else default

    def _implementation(self, kind: str, required: bool):
        for registry in self.registries:
            cls = registry.items.get(kind)
            if cls is None:
                continue
            origin = registry.origins[kind]
            if cls.implementation is None:
                if required and origin != "built-in":
                    raise PluginError(f"{registry.concept} `{kind}` of {origin} names no `implementation`, "
                                      "so ganspec cannot train with it")
                return None
            found = _resolve(cls.implementation, f"{registry.concept} `{kind}` of {origin}")
            self[kind] = found
            return found
        return None


def _resolve(reference: str, what: str):
    """The object named by "module:attribute" (the attribute may be dotted)."""
    module_name, _, attribute = reference.partition(":")
    try:
        found = importlib.import_module(module_name)
        for part in attribute.split(".") if attribute else ():
            found = getattr(found, part)
    except Exception as exc:
        raise PluginError(f"{what}: cannot import its implementation `{reference}`: "
                          f"{type(exc).__name__}: {exc}") from None
    return found
