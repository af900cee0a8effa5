"""Plugins: the example package (tests/plugins/example) installed through a real `ganspec.plugins` entry
point, seen by validate, explain, diff, fmt, schema and run as built-ins are; and nothing a spec says
imports code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from ganspec import exitcodes, plugins
from ganspec.cli import main
from ganspec.ir.components import all_registries
from ganspec.load import load

EXAMPLE = Path(__file__).parent / "example"
PLUGIN_MODULE = "ganspec_example_plugin"

SPEC = """\
experiment plugin_ring {
  data { source ring(modes: 8, radius: 1.0, std: 0.01) }
  latent normal(2)
  generator { fourier_features(16, scale: 0.5) dense(32) relu dense(2) }
  critic { dense(32) relu dense(1) }
  objective smooth_hinge(margin: 0.5)
  train { batch 64 iterations 3 log_every 1 checkpoint_every 3 }
  evaluate { every 3 metrics [samples(64)] }
}
"""


@contextmanager
def registries_restored():
    """Leave the registries, the implementation tables and sys.modules as they were (no plugin leaks)."""
    saved = [(r, dict(r.items), dict(r.origins)) for r in all_registries()]
    modules = set(sys.modules)
    loaded = dict(plugins._loaded)
    try:
        yield
    finally:
        for registry, items, origins in saved:
            registry.items, registry.origins = items, origins
        tables = [t for m in list(sys.modules.values()) if getattr(m, "__name__", "").startswith("ganspec.")
                  for t in vars(m).values() if isinstance(t, plugins.Implementations)]
        for table in tables:  # the plugins' implementations, imported on first use
            for kind in [k for k in dict.keys(table) if not any(k in r for r in table.registries)]:
                dict.__delitem__(table, kind)
        for name in set(sys.modules) - modules:  # the plugins' own modules, from temporary folders or EXAMPLE
            if (getattr(sys.modules[name], "__file__", None) or "").startswith((tempfile.gettempdir(), str(EXAMPLE))):
                del sys.modules[name]
        plugins._loaded.clear()
        plugins._loaded.update(loaded)


@pytest.fixture
def clean(monkeypatch):
    monkeypatch.delenv(plugins.ENVIRONMENT_VARIABLE, raising=False)
    with registries_restored():
        yield


@pytest.fixture
def site(tmp_path, monkeypatch, clean) -> Path:
    """The example plugin installed: its package and a distribution with a `ganspec.plugins` entry point,
    in a folder on sys.path (as pip would leave them in site-packages)."""
    site = tmp_path / "site"
    info = site / "ganspec_example_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganspec-example-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\nexample = {PLUGIN_MODULE}\n")
    shutil.copytree(EXAMPLE / PLUGIN_MODULE, site / PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "plugin_ring.gan"
    path.write_text(SPEC)
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---- validate, explain, diff, fmt, schema -------------------------------------------------------


def test_entry_point_plugin_validates_and_explains(site, spec, capsys):
    assert run_cli(capsys, "validate", spec)[0] == exitcodes.OK
    code, out, _ = run_cli(capsys, "explain", "--format", "json", spec)
    assert code == exitcodes.OK
    document = json.loads(out)
    tables = {t["role"]: t for t in document["networks"]}
    # fourier_features(16): 2 inputs x 16 fixed projections (non-trainable), 32 outputs; dense(32) 1,056; dense(2) 66
    assert (tables["generator"]["trainable"], tables["generator"]["non_trainable"]) == (1122, 32)
    assert (tables["critic"]["trainable"], tables["critic"]["non_trainable"]) == (129, 0)
    assert document["spec"]["generator"]["layers"][0] == {"kind": "fourier_features", "units": 16, "scale": 0.5}
    assert document["spec"]["objective"] == {"kind": "smooth_hinge", "margin": 0.5}


def test_diff_shows_a_changed_plugin_layer_argument(site, spec, tmp_path, capsys):
    other = tmp_path / "other.gan"
    other.write_text(SPEC.replace("fourier_features(16, scale: 0.5)", "fourier_features(16, scale: 2)"))
    code, out, err = run_cli(capsys, "diff", "--format", "json", spec, other)
    assert code == exitcodes.DIFFERENT, out + err
    assert json.loads(out)["edits"] == [{"op": "changed", "path": "generator.layers[0].scale", "old": 0.5, "new": 2.0}]


def test_fmt_round_trips_a_spec_using_plugins(site, tmp_path, capsys):
    messy = tmp_path / "messy.gan"
    messy.write_text(SPEC.replace("fourier_features(16, scale: 0.5)", "fourier_features( 16 ,scale:0.5 )")
                     .replace("smooth_hinge(margin: 0.5)", "smooth_hinge( margin : 0.5 )"))
    plugins.load_plugins()  # what the command does first
    before = load(messy).spec
    assert before is not None
    assert run_cli(capsys, "fmt", messy)[0] == exitcodes.OK
    assert "fourier_features(16, scale: 0.5)" in messy.read_text()
    assert load(messy).spec == before
    assert run_cli(capsys, "fmt", "--check", messy)[0] == exitcodes.OK


def test_schema_includes_plugin_components(site, capsys):
    code, out, _ = run_cli(capsys, "schema")
    assert code == exitcodes.OK
    schema = json.loads(out)
    assert {"FourierFeatures", "SmoothHinge"} <= set(schema["$defs"])
    layer_choices = schema["$defs"]["Network"]["properties"]["layers"]["items"]["discriminator"]["mapping"]
    assert layer_choices["fourier_features"] == "#/$defs/FourierFeatures" and "dense" in layer_choices
    assert "smooth_hinge" in schema["properties"]["objective"]["discriminator"]["mapping"]


def test_unloaded_plugin_names_are_unknown(clean, spec):
    diagnostics = load(spec).diagnostics
    assert [(d.code, d.message) for d in diagnostics] == [("E201", "unknown layer `fourier_features`"),
                                                          ("E201", "unknown objective `smooth_hinge`")]
    assert all("plugin" in d.hint and "--plugin" in d.hint for d in diagnostics)
    assert PLUGIN_MODULE not in sys.modules


def test_the_ir_half_imports_no_tensorflow(site, spec):
    probe = ("import builtins, sys\nreal = builtins.__import__\n"
             "def guarded(name, *a, **k):\n"
             "    assert name.split('.')[0] not in ('tensorflow', 'keras', 'jax'), name\n"
             "    return real(name, *a, **k)\n"
             "builtins.__import__ = guarded\n"
             "from ganspec.cli import main\n"
             "codes = [main(['validate', sys.argv[1]]), main(['explain', sys.argv[1]]), main(['schema'])]\n"
             "assert codes == [0, 0, 0], codes\nprint('EXIT OK')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(Path.cwd())])}
    result = subprocess.run([sys.executable, "-c", probe, str(spec)], capture_output=True, text=True, env=env,
                            timeout=120)
    assert "EXIT OK" in result.stdout, result.stderr[-3000:]


# ---- loading: the command line, the environment, errors -------------------------------------------


def test_plugin_named_on_the_command_line_or_in_the_environment(clean, spec, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    assert run_cli(capsys, "validate", spec)[0] == exitcodes.INVALID
    assert run_cli(capsys, "validate", "--plugin", PLUGIN_MODULE, spec)[0] == exitcodes.OK
    with registries_restored():
        monkeypatch.setenv(plugins.ENVIRONMENT_VARIABLE, PLUGIN_MODULE)
        assert run_cli(capsys, "validate", spec)[0] == exitcodes.OK


def test_plugin_file_path(clean, tmp_path, capsys):
    plugin = tmp_path / "my_activation.py"
    plugin.write_text("from typing import Literal\nfrom ganspec.ir.layers import LAYERS, Layer\n"
                      "@LAYERS.register\nclass Swish(Layer):\n    kind: Literal['swish'] = 'swish'\n")
    spec = tmp_path / "s.gan"
    spec.write_text(SPEC.replace("fourier_features(16, scale: 0.5)", "swish").replace("smooth_hinge(margin: 0.5)",
                                                                                        "hinge"))
    assert run_cli(capsys, "validate", "--plugin", plugin, spec)[0] == exitcodes.OK


def test_a_plugin_that_fails_to_import_is_named(clean, tmp_path, spec, capsys):
    code, out, err = run_cli(capsys, "validate", "--plugin", "no_such_ganspec_plugin", spec)
    assert code == exitcodes.INVALID
    assert "plugin `no_such_ganspec_plugin`" in err and "ModuleNotFoundError" in err and "Traceback" not in out + err
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("raise RuntimeError('the plugin is broken')\n")
    code, out, err = run_cli(capsys, "validate", "--plugin", broken, spec)
    assert code == exitcodes.INVALID
    assert f"plugin `{broken}`" in err and "the plugin is broken" in err and "Traceback" not in out + err


def test_name_clashes_name_both_sources(clean, tmp_path, spec, capsys):
    first = tmp_path / "first_plugin.py"
    first.write_text("from typing import Literal\nfrom ganspec.ir.layers import LAYERS, Layer\n"
                     "@LAYERS.register\nclass Twin(Layer):\n    kind: Literal['twin'] = 'twin'\n")
    second = tmp_path / "second_plugin.py"
    second.write_text(first.read_text().replace("class Twin", "class OtherTwin"))
    code, _, err = run_cli(capsys, "validate", "--plugin", first, "--plugin", second, spec)
    assert code == exitcodes.INVALID
    assert f"plugin `{second}` (second_plugin.OtherTwin)" in err and f"plugin `{first}` (first_plugin.Twin)" in err

    with registries_restored():
        builtin = tmp_path / "dense_again.py"
        builtin.write_text("from typing import Literal\nfrom ganspec.ir.layers import LAYERS, Layer\n"
                           "@LAYERS.register\nclass MyDense(Layer):\n    kind: Literal['dense'] = 'dense'\n")
        code, _, err = run_cli(capsys, "validate", "--plugin", builtin, spec)
        assert code == exitcodes.INVALID
        assert "built-in layer `dense` (ganspec.ir.layers.Dense)" in err and "dense_again.MyDense" in err


def test_a_layer_cannot_take_a_block_name(clean, tmp_path, spec, capsys):
    plugin = tmp_path / "residual_layer.py"
    plugin.write_text("from typing import Literal\nfrom ganspec.ir.layers import LAYERS, Layer\n"
                      "@LAYERS.register\nclass R(Layer):\n    kind: Literal['residual'] = 'residual'\n")
    code, _, err = run_cli(capsys, "validate", "--plugin", plugin, spec)
    assert code == exitcodes.INVALID and "built-in block `residual`" in err


# ---- no spec content imports code ---------------------------------------------------------------


def test_no_spec_content_triggers_an_import(clean, tmp_path, capsys, monkeypatch):
    """A module on sys.path that records being imported, and specs that name it (and other modules) wherever
    a name or a string can go: no command imports it."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "sentinel_mod").mkdir()
    (tmp_path / "sentinel_mod" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    (tmp_path / "sentinel_mod" / "layers.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for i, name in enumerate(["sentinel_mod", "layers", "__import__", "importlib", "os"]):
        spec = tmp_path / f"hostile_{i}.gan"
        spec.write_text(f"""\
let sentinel_mod = 1
experiment hostile_{i} {{
  description "sentinel_mod:Layer"
  tags ["{name}", "sentinel_mod.layers", "sentinel_mod/__init__.py"]
  data {{ source npz("sentinel_mod/__init__.py", key: "{name}") }}
  latent {name}(2)
  generator {{ {name}(3) dense(2, init: {name}) }}
  critic {{ dense(1) {name} }}
  objective {name}("sentinel_mod")
  constraint {name}(weight: sentinel_mod)
  optimizer.critic {name}(lr: 1)
  evaluate {{ metrics [{name}, fid(features: {name})] }}
  plugin "sentinel_mod"
}}
""")
        for argv in (["validate", spec], ["explain", spec], ["diff", spec, spec], ["fmt", "--check", spec],
                     ["validate", "--format", "json", spec]):
            run_cli(capsys, *argv)
        assert [d.code for d in load(spec).diagnostics if d.code == "E201"], "the names must reach the registries"
    assert not marker.exists()
    assert not [m for m in sys.modules if m.startswith("sentinel_mod")]


# ---- training with a plugin layer and objective; the run reads back --------------------------------


@pytest.mark.slow
def test_training_uses_the_plugin_layer_and_objective(site, spec, tmp_path, capsys):
    from ganspec.run.rundir import RunDir

    code, out, err = run_cli(capsys, "run", spec, "--plain", "--out", tmp_path / "runs")
    assert code == exitcodes.OK, (out + err)[-3000:]
    (run_path,) = (tmp_path / "runs").iterdir()
    records = [json.loads(line) for line in (run_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in records if "critic_loss" in r]
    assert len(losses) == 3
    # smooth_hinge(0.5) with a critic near 0 at the start: softplus(0.5) twice, ~1.95 (no built-in gives this)
    assert 1.8 < losses[0]["critic_loss"] < 2.1 and abs(losses[0]["generator_loss"]) < 0.5

    run = RunDir(run_path)
    assert run.resolved_spec() == load(spec).spec  # resolved.json reads back, plugin components included
    from ganspec.networks import build_generator

    generator = build_generator(run.resolved_spec())
    assert any(type(layer).__name__ == "RandomFourierFeatures" for layer in generator.layers)
    assert run_cli(capsys, "sample", run_path, "-n", "16", "-o", tmp_path / "grid.png")[0] == exitcodes.OK


def test_a_run_of_an_unloaded_plugin_says_which_names_are_missing(clean, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    document = json.loads((Path(__file__).parents[1] / "golden" / "ir" / "minimal.json").read_text())
    document["generator"]["layers"][0] = {"kind": "fourier_features", "units": 4, "scale": 1.0}
    (run / "resolved.json").write_text(json.dumps(document))
    code, out, err = run_cli(capsys, "sample", run, "-o", tmp_path / "x.png")
    assert code == exitcodes.UNREADABLE
    assert "`fourier_features`" in out + err and "--plugin" in out + err and "Traceback" not in out + err


# ---- the README's example is a working plugin -------------------------------------------------------


def test_the_readme_example_plugin_works(clean, tmp_path, capsys, monkeypatch):
    import re

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Extending ganspec", 1)[1].split("\n## ", 1)[0]
    files = dict(re.findall(r"^`(my_gan_ext/[\w.]+)`[^\n]*\n\n```python\n(.*?)```", section, flags=re.M | re.S))
    assert set(files) == {"my_gan_ext/__init__.py", "my_gan_ext/training.py"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "s.gan"
    spec.write_text(SPEC.replace("fourier_features(16, scale: 0.5) dense(32) relu dense(2)",
                                 "dense(64) relu dense(2) scaled_tanh(2)")
                    .replace("smooth_hinge(margin: 0.5)", "absolute_deviation"))
    code, out, err = run_cli(capsys, "validate", "--plugin", "my_gan_ext", spec)
    assert code == exitcodes.OK, out + err
    assert "my_gan_ext.training" not in sys.modules  # the training half waits until a run needs it

    from ganspec.networks import build_generator
    from ganspec.train.objectives import objective_losses

    resolved = load(spec).spec
    generator = build_generator(resolved)
    assert generator.output_shape == (None, 2) and generator.count_params() == 64 * 2 + 64 + 64 * 2 + 2
    import numpy as np

    losses = objective_losses(resolved.objective)
    d_real, d_fake = np.array([[1.5]], "float32"), np.array([[0.25]], "float32")
    assert float(losses.critic(resolved.objective, d_real, d_fake, None)) == pytest.approx(0.75)
    assert float(losses.generator(resolved.objective, d_real, d_fake)) == pytest.approx(0.75)


# ---- pydantic's own plugin scan -----------------------------------------------------------------


def test_pydantic_is_told_of_no_plugins_only_where_none_can_be_declared(tmp_path, monkeypatch):
    import importlib.metadata

    site = tmp_path / "site"
    (site / "other-1.0.dist-info").mkdir(parents=True)
    (site / "other-1.0.dist-info" / "entry_points.txt").write_text("[console_scripts]\nother = other:main\n")
    monkeypatch.setattr(sys, "path", [str(site)])
    monkeypatch.delitem(sys.modules, plugins.PYDANTIC_LOADER, raising=False)
    try:
        plugins.spare_pydantic_plugin_scan()
        loader = sys.modules[plugins.PYDANTIC_LOADER]
        assert list(loader.get_plugins()) == [] and loader.PYDANTIC_ENTRY_POINT_GROUP == "pydantic"
        assert not [d for d in importlib.metadata.distributions() if any(
            ep.group == "pydantic" for ep in d.entry_points)]  # what pydantic would have found
        sys.modules.pop(plugins.PYDANTIC_LOADER)

        declaring = site / "pydantic_plugin-1.0.dist-info"  # a distribution that may declare one
        declaring.mkdir()
        (declaring / "entry_points.txt").write_text("[pydantic]\nmine = my_pydantic_plugin\n")
        plugins.spare_pydantic_plugin_scan()
        assert plugins.PYDANTIC_LOADER not in sys.modules  # pydantic looks for itself, as ever
    finally:
        sys.modules.pop(plugins.PYDANTIC_LOADER, None)
