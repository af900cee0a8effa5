"""`ganspec export`: every file it writes, reloaded where ganspec is not (SavedModel, ONNX) or only its
layers are (.keras), gives the run's generator's images for the same z and labels, on both backends;
a missing extra is named (E507, exit 2) and bad input is refused without a traceback."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ganspec import exitcodes
from ganspec.cli import main
from tests.backends.conftest import environment, require_jax
from tests.backends.conftest import ganspec as ganspec_process
from tests.run.test_run_command import TINY, run_dir

# A conditional image generator with ganspec's own layers (class-conditional batch norm, a
# spectral-normalization wrapper), Keras batch norm sampled with standing statistics, and an EMA copy.
CONDITIONAL = """experiment tiny_conditional {
  seed 2
  data { source npz("tiny.npz", labels_key: "y") scale [-1, 1] }
  latent normal(8)
  conditional { classes 3 }
  generator {
    dense(4 * 4 * 8) conditional_batchnorm relu reshape(4, 4, 8)
    spectral_norm { conv_transpose(4, kernel: 3, stride: 2, padding: "same") } batchnorm relu
    conv(1, kernel: 3, padding: "same") tanh
  }
  critic { flatten dense(16) leaky_relu(0.2) dense(1) }
  objective non_saturating
  ema { decay 0.9 }
  train { batch 16 iterations 2 log_every 1 checkpoint_every 1 keep_checkpoints 3 }
  evaluate { every 100 standing_stats 2 metrics [samples(4)] }
}
"""
ATOL = 1e-5
N, SEED = 6, 5  # the images compared: not the export's own probe batch

# Reloads an export in a fresh process: ONNX and the SavedModel with nothing of ganspec imported, then
# the .keras file after `import ganspec.networks` only, as README.txt says.
RELOAD = r"""
import sys
import numpy as np
folder, feeds_file, out_file = sys.argv[1:4]
feeds = dict(np.load(feeds_file))
import onnxruntime
onnx = onnxruntime.InferenceSession(folder + "/generator.onnx").run(["samples"], feeds)[0]
import tensorflow as tf
serve = tf.saved_model.load(folder + "/saved_model").signatures["serving_default"]
savedmodel = serve(**{k: tf.constant(v) for k, v in feeds.items()})["samples"].numpy()
assert not [m for m in sys.modules if m.split(".")[0] == "ganspec"], "ganspec was imported"
import ganspec.networks
import keras
model = keras.saving.load_model(folder + "/generator.keras")
inputs = [feeds["z"], feeds["label"]] if "label" in feeds else feeds["z"]
np.savez(out_file, onnx=onnx, savedmodel=savedmodel, keras=np.asarray(model(inputs, training=False)))
"""


def cli(*argv) -> int:
    return main([str(a) for a in argv])


def write_conditional_spec(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(folder / "tiny.npz", x=rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8), y=rng.integers(0, 3, 64))
    spec = folder / "tiny_conditional.gan"
    spec.write_text(CONDITIONAL)
    return spec


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("conditional")
    spec = write_conditional_spec(folder)
    assert cli("run", spec, "--plain", "--out", folder / "runs", "--backend", "tensorflow") == exitcodes.OK
    return run_dir(folder / "runs")


def manifest(folder: Path) -> dict:
    return json.loads((folder / "export.json").read_text())


def feeds(spec) -> dict[str, np.ndarray]:
    """The inputs of `generate(spec, generator, N, SEED)`, by the export's input names."""
    from ganspec.run.sampling import label_batch, latent_batch

    named = {"z": latent_batch(spec, N, SEED)}
    labels = label_batch(spec, N)
    if labels is not None:
        named["label"] = np.eye(spec.conditional.classes, dtype=np.float32)[labels]
    return named


def run_images(run: Path, checkpoint: str | None = None, ema: bool = True) -> np.ndarray:
    """What `ganspec sample` draws from the run's generator (on TensorFlow, in this process)."""
    from ganspec.backend import activate
    from ganspec.run.rundir import RunDir
    from ganspec.run.sampling import generate

    activate("tensorflow")  # checkpoints load on either backend
    spec = RunDir(run).resolved_spec()
    generator, _, _ = RunDir(run).load_generator(spec, checkpoint, ema=ema)
    return generate(spec, generator, N, seed=SEED)


def reload_elsewhere(folder: Path, spec, tmp_path: Path) -> dict[str, np.ndarray]:
    np.savez(tmp_path / "feeds.npz", **feeds(spec))
    result = subprocess.run([sys.executable, "-c", RELOAD, folder, tmp_path / "feeds.npz", tmp_path / "out.npz"],
                            capture_output=True, text=True, timeout=300, env=environment("tensorflow"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(tmp_path / "out.npz"))


def test_every_format_reloads_to_the_runs_images(conditional_run, tmp_path):
    from ganspec.run.rundir import RunDir

    assert cli("export", conditional_run) == exitcodes.OK
    folder = conditional_run / "export"
    document = manifest(folder)
    assert set(document["files"]) == {"keras", "savedmodel", "onnx"} and document["skipped"] == {}
    assert (document["generator"], document["iteration"], document["checkpoint"]) == ("generator_ema", 2,
                                                                                       "ckpt-00000002")
    assert [(i["name"], i["shape"], i["dtype"]) for i in document["inputs"]] == [
        ("z", [None, 8], "float32"), ("label", [None, 3], "float32")]
    assert document["output"]["shape"] == [None, 8, 8, 1] and document["output"]["value_range"] == [-1, 1]
    assert document["classes"] == 3 and document["latent"]["kind"] == "normal"
    assert "standing statistics of 2 batches" in document["batch_norm"]
    keras_file = document["files"]["keras"]
    assert keras_file["import_first"] == ["ganspec.networks"]
    assert {"ganspec>SpectralNormalization", "ganspec>ConditionalAffine"} <= set(keras_file["custom_layers"])
    assert all(entry["max_abs_difference"] <= ATOL for entry in document["files"].values())
    assert "label = numpy.eye(3" in (folder / "README.txt").read_text()

    expected = run_images(conditional_run)
    reloaded = reload_elsewhere(folder, RunDir(conditional_run).resolved_spec(), tmp_path)
    for name, images in reloaded.items():
        assert images.shape == expected.shape == (N, 8, 8, 1), name
        np.testing.assert_allclose(images, expected, atol=ATOL, err_msg=name)
    assert np.ptp(expected) > 0.01  # images, not a constant that any export would match


def test_no_ema_and_checkpoint_choose_the_weights(conditional_run, tmp_path):
    import keras

    import ganspec.networks  # noqa: F401  (registers the layers the .keras file names)
    from ganspec.run.rundir import RunDir

    out = tmp_path / "raw"
    assert cli("export", conditional_run, "--no-ema", "--checkpoint", "ckpt-00000001", "--format", "keras",
               "-o", out) == exitcodes.OK
    document = manifest(out)
    assert (document["generator"], document["iteration"]) == ("generator", 1)
    assert set(document["files"]) == {"keras"} and sorted(p.name for p in out.iterdir()) == [
        "README.txt", "export.json", "generator.keras"]
    model = keras.saving.load_model(out / "generator.keras")
    named = feeds(RunDir(conditional_run).resolved_spec())
    images = keras.ops.convert_to_numpy(model([named["z"], named["label"]], training=False))
    np.testing.assert_allclose(images, run_images(conditional_run, "ckpt-00000001", ema=False), atol=ATOL)
    assert not np.allclose(images, run_images(conditional_run, "ckpt-00000001", ema=True), atol=1e-3)


def test_an_unconditional_point_generator_exports_one_input(tmp_path):
    import onnxruntime
    import tensorflow as tf

    from ganspec.run.rundir import RunDir

    spec = tmp_path / "tiny.gan"
    spec.write_text(TINY % "train.iterations 2\n train.checkpoint_every 2\n evaluate.every 2")
    assert cli("run", spec, "--plain", "--out", tmp_path / "runs", "--backend", "tensorflow") == exitcodes.OK
    run = run_dir(tmp_path / "runs")
    assert cli("export", run, "--format", "onnx", "--format", "savedmodel") == exitcodes.OK
    document = manifest(run / "export")
    assert [i["name"] for i in document["inputs"]] == ["z"] and document["classes"] is None
    assert document["output"]["value_range"] is None and document["output"]["shape"] == [None, 2]
    assert not (run / "export" / "generator.keras").exists()

    named = feeds(RunDir(run).resolved_spec())
    expected = run_images(run)
    session = onnxruntime.InferenceSession(str(run / "export" / "generator.onnx"))
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("z", ["batch", 4])]
    np.testing.assert_allclose(session.run(["samples"], named)[0], expected, atol=ATOL)
    serve = tf.saved_model.load(str(run / "export" / "saved_model")).signatures["serving_default"]
    np.testing.assert_allclose(serve(z=tf.constant(named["z"]))["samples"].numpy(), expected, atol=ATOL)


def test_a_missing_onnx_converter_names_the_extra(conditional_run, tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real(name, *a))

    assert cli("export", conditional_run, "--format", "onnx", "-o", tmp_path / "asked") == exitcodes.INVALID
    out = capsys.readouterr()
    assert "E507" in out.out and "tf2onnx" in out.out and "pip install 'ganspec[export]'" in out.out
    assert "Traceback" not in out.out + out.err
    assert not (tmp_path / "asked" / "export.json").exists()

    assert cli("export", conditional_run, "-o", tmp_path / "default") == exitcodes.OK
    document = manifest(tmp_path / "default")
    assert set(document["files"]) == {"keras", "savedmodel"}
    assert "ganspec[export]" in document["skipped"]["onnx"]
    assert "skipped onnx" in capsys.readouterr().out


def test_bad_input_is_refused_plainly(conditional_run, tmp_path, capsys):
    assert cli("export", tmp_path) == exitcodes.UNREADABLE
    assert cli("export", conditional_run, "--checkpoint", "ckpt-99", "--format", "keras",
               "-o", tmp_path / "x") == exitcodes.UNREADABLE
    (tmp_path / "a-file").write_text("")
    assert cli("export", conditional_run, "-o", tmp_path / "a-file") == exitcodes.INVALID
    out = capsys.readouterr()
    assert "E502" in out.out and "E503" in out.out and "ckpt-00000002" in out.out and "not a folder" in out.out
    assert "Traceback" not in out.out + out.err


def test_exports_on_jax_give_the_same_images(conditional_run, tmp_path):
    """The export path on JAX (its .keras file, jax2tf's SavedModel). The run trained on TensorFlow:
    checkpoints are the same on both backends (tests/backends), and training one on JAX costs half a minute."""
    require_jax()
    out = tmp_path / "jax"
    exported = ganspec_process("export", conditional_run, "--backend", "jax", "-o", out, backend="jax")
    assert exported.returncode == exitcodes.OK, exported.stdout[-3000:] + exported.stderr[-3000:]
    document = manifest(out)
    assert document["exported_from_backend"] == "jax"
    assert {"keras", "savedmodel"} <= set(document["files"])
    if importlib.util.find_spec("jax2onnx") is None:
        assert "--backend tensorflow" in document["skipped"]["onnx"]

    import keras
    import tensorflow as tf

    import ganspec.networks  # noqa: F401  (registers the layers the .keras file names)
    from ganspec.run.rundir import RunDir

    named = feeds(RunDir(conditional_run).resolved_spec())
    expected = run_images(conditional_run)
    model = keras.saving.load_model(out / "generator.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model([named["z"], named["label"]], training=False)),
                               expected, atol=ATOL)
    serve = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    images = serve(**{k: tf.constant(v) for k, v in named.items()})["samples"].numpy()
    np.testing.assert_allclose(images, expected, atol=ATOL)


def test_without_tensorflow_a_savedmodel_names_the_extra(conditional_run, tmp_path):
    """`pip install 'ganspec[jax]'` brings no TensorFlow: a SavedModel asked for names the extra."""
    require_jax()
    asked = ganspec_process("export", conditional_run, "--backend", "jax", "--format", "savedmodel",
                            "-o", tmp_path, backend="jax", without_tensorflow=True)
    assert asked.returncode == exitcodes.INVALID, asked.stdout[-3000:] + asked.stderr[-3000:]
    assert "E507" in asked.stdout and "pip install 'ganspec[tensorflow]'" in asked.stdout
    assert "Traceback" not in asked.stderr and not (tmp_path / "export.json").exists()


def test_the_command_line_offers_every_export_format():
    from ganspec.cli import EXPORT_FORMATS
    from ganspec.run.export import FORMATS

    assert EXPORT_FORMATS == tuple(FORMATS)
