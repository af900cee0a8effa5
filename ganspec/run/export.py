"""A run's generator as files that other programs load: a Keras `.keras` file, a TensorFlow SavedModel
and an ONNX model, with a manifest (export.json) and a README.txt beside them.

Every format serves one signature, written into the manifest:

    inputs   z        float32 [batch, latent width]    drawn from the spec's latent prior
             label    float32 [batch, classes]         one-hot class (conditional runs only)
    output   samples  float32 [batch, *sample shape]   images in data.scale, or points

The exported generator computes in float32 (a mixed-precision run's float32 weights, without the
float16 casts) in inference mode: batch norm reads its moving averages, or, where the spec samples with
standing statistics (evaluate.standing_stats), the ones `ganspec sample` computes, written into them.
Each file is reloaded after it is written and must give the generator's images again (`check`).
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ganspec.diagnostics import Diagnostic, SpecError, error
from ganspec.ir.spec import Spec

if TYPE_CHECKING:  # NumPy comes with the training extras; the parser imports this module without it
    import numpy as np

OUTPUT_NAME = "samples"
PROBE_SAMPLES = 8  # each written file is checked on this many samples
PROBE_SEED = 0
# An export that differs from the generator by more than this is not the generator (float32 round-off
# through another runtime's kernels stays orders of magnitude below it).
TOLERANCE = 1e-4
# The ONNX converter of each Keras backend (Keras' `model.export(format="onnx")`).
ONNX_CONVERTERS = {"tensorflow": "tf2onnx", "jax": "jax2onnx"}


@dataclass(frozen=True)
class Export:
    """What is exported: the generator ready to serve, and where its weights came from."""

    spec: Spec  # the run's spec, as the export computes it (float32)
    model: object  # the Keras generator, with the batch-norm statistics it samples with
    generator: str  # "generator_ema" or "generator"
    checkpoint: str
    iteration: int
    backend: str
    batch_norm: str  # which batch-norm statistics the export uses, in words
    trained_precision: str

    def inputs(self) -> list[dict]:
        """The signature's inputs: name, shape (None for any batch size), dtype, meaning."""
        found = [{"name": "z", "shape": [None, self.spec.latent.input_dim], "dtype": "float32",
                  "meaning": f"latent vector drawn from {self.spec.latent.text(full=True)}"}]
        if self.spec.conditional:
            found.append({"name": "label", "shape": [None, self.spec.conditional.classes], "dtype": "float32",
                          "meaning": "one-hot class label (row k of the identity matrix for class k)"})
        return found

    def output(self) -> dict:
        shape = [None, *(int(d) for d in self.model.output.shape[1:])]
        return {"name": OUTPUT_NAME, "shape": shape, "dtype": "float32",
                "meaning": "images, channels last" if self.images else "points"}

    @property
    def images(self) -> bool:
        return len(self.model.output.shape) == 4

    def probe(self) -> dict[str, np.ndarray]:
        """The inputs every written file is checked on, by input name."""
        import numpy as np

        from ganspec.run.sampling import label_batch, latent_batch

        feeds = {"z": latent_batch(self.spec, PROBE_SAMPLES, PROBE_SEED)}
        labels = label_batch(self.spec, PROBE_SAMPLES)
        if labels is not None:
            feeds["label"] = np.eye(self.spec.conditional.classes, dtype=np.float32)[labels]
        return feeds

    def keras_inputs(self, feeds: dict[str, np.ndarray]):
        """Named inputs as the Keras generator takes them: z, or [z, label]."""
        return [feeds["z"], feeds["label"]] if "label" in feeds else feeds["z"]

    def reference(self) -> np.ndarray:
        """The generator's samples on the probe inputs, in inference mode."""
        from keras import ops

        return ops.convert_to_numpy(self.model(self.keras_inputs(self.probe()), training=False))


def float32_spec(spec: Spec) -> Spec:
    """The spec with train.precision float32: exports compute in float32 (ONNX requires it)."""
    if spec.train.precision == "float32":
        return spec
    return spec.model_copy(update={"train": spec.train.model_copy(update={"precision": "float32"})})


def prepare(spec: Spec, generator, generator_name: str, checkpoint: str, iteration: int,
            trained_precision: str) -> tuple[Export, list[str]]:
    """(what to export, notes for the user): the generator with the batch-norm statistics the spec
    samples with (`ganspec.run.sampling`), fixed into its moving averages."""
    import keras

    from ganspec.run.sampling import batchnorm_layers, with_standing_stats

    notes = []
    standing = spec.evaluate.standing_stats
    if not batchnorm_layers(generator):
        model, batch_norm = generator, "none in this generator"
    elif spec.evaluate.batch_statistics:
        model, batch_norm = generator, "moving averages (inference mode)"
        notes.append("the run samples with each batch's own batch-norm statistics (evaluate.batch_statistics); "
                     "the export uses the moving averages (inference mode), so its images differ from "
                     "`ganspec sample`'s")
    elif standing:
        model = with_standing_stats(spec, generator, standing)
        batch_norm = f"standing statistics of {standing} batches (evaluate.standing_stats), as moving averages"
    else:
        model, batch_norm = generator, "moving averages (inference mode)"
    if trained_precision != "float32":
        notes.append(f"the run trained in {trained_precision}; the export computes in float32")
    return Export(spec, model, generator_name, checkpoint, iteration, keras.backend.backend(), batch_norm,
                  trained_precision), notes


# ---- formats: what each needs, writes and reloads ---------------------------------------------


def _keras_needs(backend: str) -> Diagnostic | None:
    return None  # the backend is running: Keras is there


def _savedmodel_needs(backend: str) -> Diagnostic | None:
    from ganspec.backend import MissingExtra, installed

    # Both backends write it through TensorFlow (from JAX: jax2tf, which ships with JAX).
    if installed("tensorflow"):
        return None
    return MissingExtra("tensorflow", "writing a TensorFlow SavedModel", ["tensorflow"]).diagnostics[0]


def _onnx_needs(backend: str) -> Diagnostic | None:
    from ganspec.backend import MissingExtra, installed, missing_modules

    converter = ONNX_CONVERTERS[backend]
    other = set(ONNX_CONVERTERS.values()) - {converter}
    missing = [m for m in missing_modules("export") if m not in other]
    if missing:
        return MissingExtra("export", "writing an ONNX model", missing).diagnostics[0]
    if not installed(converter):
        return error("E507", f"writing an ONNX model from the {backend} backend needs {converter}, which this "
                             "installation lacks",
                     hint="export from the TensorFlow backend, which the `export` extra converts: "
                          "`--backend tensorflow` (the checkpoint's weights are the same), "
                          f"or `pip install {converter}`")
    return None


def _signature(export: Export) -> list:
    import keras

    return [keras.InputSpec(shape=tuple(i["shape"]), dtype=i["dtype"], name=i["name"]) for i in export.inputs()]


def _write_keras(export: Export, path: Path) -> None:
    export.model.save(str(path))


def _write_savedmodel(export: Export, path: Path) -> None:
    """A SavedModel whose `serving_default` signature takes z (and label) by name and returns
    {"samples": ...}, with the generator in inference mode."""
    import keras

    model = export.model
    archive = keras.export.ExportArchive()
    archive.track(model)
    if export.spec.conditional:
        def serve(z, label):
            return {OUTPUT_NAME: model([z, label], training=False)}
    else:
        def serve(z):
            return {OUTPUT_NAME: model(z, training=False)}
    archive.add_endpoint("serve", serve, input_signature=_signature(export))
    archive.write_out(str(path), verbose=False)


def _write_onnx(export: Export, path: Path) -> None:
    signature = _signature(export)
    with warnings.catch_warnings():  # the converters' deprecation notices are not the user's business
        warnings.simplefilter("ignore")
        export.model.export(str(path), format="onnx", verbose=False,
                            input_signature=[signature] if len(signature) > 1 else signature)
    _name_onnx_output(path)


def _name_onnx_output(path: Path) -> None:
    """Call the ONNX graph's output `samples` and its first axis `batch`, as in the other formats
    (the converters name them after internal tensors: Identity:0, unk__63)."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    (output,) = graph.output
    old = output.name
    for node in graph.node:
        node.output[:] = [OUTPUT_NAME if name == old else name for name in node.output]
        node.input[:] = [OUTPUT_NAME if name == old else name for name in node.input]
    output.name = OUTPUT_NAME
    for value in (*graph.input, *graph.output):
        batch = value.type.tensor_type.shape.dim[0]
        if not batch.HasField("dim_value"):
            batch.dim_param = "batch"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _load_keras(path: Path, export: Export) -> Callable[[dict], np.ndarray]:
    import keras

    model = keras.saving.load_model(str(path))
    return lambda feeds: keras.ops.convert_to_numpy(model(export.keras_inputs(feeds), training=False))


def _load_savedmodel(path: Path, export: Export) -> Callable[[dict], np.ndarray]:
    import logging

    from ganspec.backend import import_tensorflow

    tf = import_tensorflow()
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # from JAX: "ops with unsaved custom gradients", about training only
    try:
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    finally:
        absl.setLevel(level)
    return lambda feeds: serve(**{k: tf.constant(v) for k, v in feeds.items()})[OUTPUT_NAME].numpy()


def _load_onnx(path: Path, export: Export) -> Callable[[dict], np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda feeds: session.run([OUTPUT_NAME], feeds)[0]


def _keras_usage(export: Export, name: str) -> dict:
    modules = custom_layer_modules(export.model)
    load = f"model = keras.saving.load_model('{name}')"
    return {"custom_layers": custom_layer_names(export.model), "import_first": modules,
            "load": "; ".join([*(f"import {m}" for m in modules), "import keras", load]),
            "call": f"numpy.asarray(model({'[z, label]' if export.spec.conditional else 'z'}, training=False))"}


def _savedmodel_usage(export: Export, name: str) -> dict:
    feeds = ", ".join(f"{i['name']}=tf.constant({i['name']})" for i in export.inputs())
    return {"signature": "serving_default",
            "load": f"import tensorflow as tf; serve = tf.saved_model.load('{name}').signatures['serving_default']",
            "call": f"serve({feeds})['{OUTPUT_NAME}']"}


def _onnx_usage(export: Export, name: str) -> dict:
    feeds = ", ".join(f"'{i['name']}': {i['name']}" for i in export.inputs())
    return {"load": f"import onnxruntime; session = onnxruntime.InferenceSession('{name}')",
            "call": f"session.run(['{OUTPUT_NAME}'], {{{feeds}}})[0]"}


@dataclass(frozen=True)
class ExportFormat:
    """One file format: its file name in the export folder, what it needs installed (a Diagnostic saying
    what is missing, for a backend), how it is written, reloaded and loaded by a user."""

    name: str
    filename: str
    needs: Callable[[str], Diagnostic | None]
    write: Callable[[Export, Path], None]
    load: Callable[[Path, Export], Callable[[dict], np.ndarray]]
    usage: Callable[[Export, str], dict]


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("keras", "generator.keras", _keras_needs, _write_keras, _load_keras, _keras_usage),
    ExportFormat("savedmodel", "saved_model", _savedmodel_needs, _write_savedmodel, _load_savedmodel,
                 _savedmodel_usage),
    ExportFormat("onnx", "generator.onnx", _onnx_needs, _write_onnx, _load_onnx, _onnx_usage),
)}


def unavailable(name: str, backend: str) -> Diagnostic | None:
    """Why format `name` cannot be written on `backend` in this installation (E507), or None."""
    return FORMATS[name].needs(backend)


def write(export: Export, name: str, folder: Path) -> float:
    """Write one format into `folder`, reload it and return the largest absolute difference between
    its samples and the generator's on the probe inputs; SpecError (E509) when it cannot be written
    or does not give the generator's images."""
    fmt = FORMATS[name]
    path = folder / fmt.filename
    _remove(path)
    try:
        fmt.write(export, path)
        difference = check(export, name, folder)
    except SpecError:
        raise
    except Exception as exc:  # a converter that cannot convert this network: say which and why
        _remove(path)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SpecError(error("E509", f"the {name} export failed: {type(exc).__name__}: {message}"[:500],
                              hint="the other formats do not depend on it: leave it out with --format")) from exc
    if not difference <= TOLERANCE:  # NaN included
        _remove(path)
        raise SpecError(error("E509", f"the {name} export gives other images than the generator (largest "
                                      f"difference {difference:.3g}, more than {TOLERANCE:g})"))
    return difference


def check(export: Export, name: str, folder: Path) -> float:
    """The largest absolute difference between a written file's samples and the generator's."""
    import numpy as np

    fmt = FORMATS[name]
    run = fmt.load(folder / fmt.filename, export)
    return float(np.max(np.abs(np.asarray(run(export.probe())) - export.reference())))


def clear(folder: Path) -> None:
    """Remove every format's file from an earlier export into `folder` (and its manifest), so that
    the folder holds only what this export wrote."""
    for fmt in FORMATS.values():
        _remove(folder / fmt.filename)
    for name in (MANIFEST, README):
        _remove(folder / name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# ---- custom layers: what a plain keras.saving.load_model needs imported ------------------------


def _layers(model) -> list:
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found += _layers(layer)
        inner = getattr(layer, "layer", None)  # a wrapper (spectral normalization)
        if inner is not None:
            found += [inner, *_layers(inner)]
    return found


def _custom_classes(model) -> list[type]:
    classes = {type(layer) for layer in _layers(model)}
    return sorted((c for c in classes if not c.__module__.startswith("keras")), key=lambda c: c.__name__)


def custom_layer_names(model) -> list[str]:
    """The registered names of the model's layers that are not Keras' own ("ganspec>SpectralNormalization")."""
    import keras

    return [keras.saving.get_registered_name(c) for c in _custom_classes(model)]


def custom_layer_modules(model) -> list[str]:
    """The modules to import before `keras.saving.load_model` reads the model: `ganspec.networks` for
    ganspec's layers (it registers them all), a plugin's own module for a plugin's."""
    modules = {"ganspec.networks" if c.__module__.startswith("ganspec.") else c.__module__
               for c in _custom_classes(model)}
    return sorted(modules)


# ---- the manifest and README.txt --------------------------------------------------------------

MANIFEST = "export.json"
README = "README.txt"


# How to draw z from each prior with NumPy (`rng = numpy.random.default_rng(seed)`), in one expression:
# the twins of ganspec.run.sampling.NUMPY_PRIORS, written out for a reader without ganspec.
PRIOR_RECIPES = {
    "normal": lambda p: f"rng.standard_normal((n, {p.dim})) * {p.std:g}",
    "uniform": lambda p: f"rng.uniform({p.low:g}, {p.high:g}, size=(n, {p.dim}))",
    "mixture": lambda p: (f"means[rng.integers(0, {p.components}, n)] + rng.standard_normal((n, {p.dim})) * "
                          f"{p.std:g}, with `means` (shape [{p.components}, {p.dim}]) from this prior's entry "
                          "in export.json"),
    "categorical": lambda p: f"numpy.eye({p.dim})[rng.integers(0, {p.dim}, n)]",
    "product": lambda p: "numpy.concatenate([" + ", ".join(_prior_recipe(f) for f in p.factors) + "], axis=1)",
}


def _prior_recipe(prior) -> str:
    recipe = PRIOR_RECIPES.get(prior.kind)
    if recipe is None:  # a plugin's prior: its own words
        return f"{prior.text(full=True)}: {(type(prior).__doc__ or '').strip().splitlines()[0]}"
    return recipe(prior)


def _prior_document(prior) -> dict:
    document = {"prior": prior.text(full=True), **prior.model_dump(mode="json", exclude={"factors"}),
                "width": prior.input_dim, "numpy": _prior_recipe(prior)}
    if prior.kind == "mixture":
        document["means"] = prior.means().tolist()
    if prior.kind == "product":
        document["factors"] = []
        for index, factor in enumerate(prior.factors):
            start, stop = prior.columns(index)
            document["factors"].append({"columns": [start, stop], **_prior_document(factor)})
    return document


def manifest(export: Export, run_path: Path, written: dict[str, float], skipped: dict[str, str]) -> dict:
    """export.json: what goes in, what comes out, where the weights came from, how to load each file."""
    from ganspec import __version__

    spec = export.spec
    scale = tuple(spec.data.scale) if export.images and spec.data.scale else None
    return {
        "spec": spec.name,
        "run": str(run_path),
        "checkpoint": export.checkpoint,
        "iteration": export.iteration,
        "generator": export.generator,
        "exported_from_backend": export.backend,
        "ganspec_version": __version__,
        "precision": "float32",
        "trained_precision": export.trained_precision,
        "batch_norm": export.batch_norm,
        "inputs": export.inputs(),
        "output": {**export.output(), "value_range": list(scale) if scale else None,
                   "to_uint8": _to_uint8(scale) if scale else None},
        "latent": _prior_document(spec.latent),
        "classes": spec.conditional.classes if spec.conditional else None,
        "files": {name: {"path": FORMATS[name].filename, "max_abs_difference": difference,
                         **FORMATS[name].usage(export, FORMATS[name].filename)}
                  for name, difference in written.items()},
        "skipped": skipped,
    }


def _to_uint8(scale: tuple[float, float]) -> str:
    """NumPy code mapping samples in [low, high] to 8-bit pixels, as ganspec's sample grids do."""
    low, high = scale
    shifted = "samples" if low == 0 else f"(samples + {-low:g})" if low < 0 else f"(samples - {low:g})"
    return f"numpy.clip(numpy.rint({shifted} / {high - low:g} * 255), 0, 255).astype('uint8')"


def readme(document: dict) -> str:
    """README.txt: the manifest for people, with code that samples from each file without ganspec."""
    lines = [f"Generator of the ganspec run {Path(document['run']).name} (spec {document['spec']}): "
             f"{document['generator']} at iteration {document['iteration']} ({document['checkpoint']}).",
             "", "Inputs (any batch size n):"]
    for item in document["inputs"]:
        lines.append(f"  {item['name']:<8}{item['dtype']} {_shape(item['shape'])}  {item['meaning']}")
    output = document["output"]
    lines += ["Output:", f"  {output['name']:<8}{output['dtype']} {_shape(output['shape'])}  {output['meaning']}"]
    if output["value_range"]:
        low, high = output["value_range"]
        lines.append(f"          values in [{low:g}, {high:g}] (data.scale); as 8-bit pixels: {output['to_uint8']}")
    lines += ["", f"Batch norm: {document['batch_norm']}. Computes in float32.", "",
              "Draw z with NumPy (rng = numpy.random.default_rng(seed)):",
              f"  z = ({document['latent']['numpy']}).astype('float32')"]
    if document["classes"]:
        lines.append(f"  label = numpy.eye({document['classes']}, dtype='float32')[classes]  "
                     f"(classes: integers in 0..{document['classes'] - 1}, one per sample)")
    for name, entry in document["files"].items():
        lines += ["", f"{name}: {entry['path']}", f"  {entry['load']}", f"  samples = {entry['call']}"]
        if name == "keras" and entry["import_first"]:
            lines.append(f"  (its custom layers {', '.join(entry['custom_layers'])} are registered by "
                         f"importing {', '.join(entry['import_first'])}: pip install ganspec)")
        elif name != "keras":
            lines.append("  (needs nothing of ganspec)")
    for name, reason in document["skipped"].items():
        lines += ["", f"not exported: {name}: {reason}"]
    lines += ["", "export.json holds the same facts for programs."]
    return "\n".join(lines) + "\n"


def _shape(shape) -> str:
    return "[" + ", ".join("n" if d is None else str(d) for d in shape) + "]"


def write_manifest(folder: Path, document: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(document, indent=2) + "\n")
    (folder / README).write_text(readme(document))
