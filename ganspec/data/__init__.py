"""The data stage of `ganspec run`: a resolved spec's `data` section -> a `Dataset` of real samples.

    dataset = load_data(spec, spec_dir)
    for x in dataset.numpy_batches(64, seed=spec.seed): ...                     # numpy, no TensorFlow
    ds = tf_pipeline.tf_batches(dataset, 64, seed=spec.seed, start_batch=step)  # tf.data, resumes exactly
    batches = feed.iteration_feed(dataset, spec, iteration, step, backend)      # what training reads

Each source kind has one loader in `LOADERS` (toy.py, arrays.py, tfds_source.py). Problems
are raised as `DataError`, whose diagnostic points at the spec line that named the data.
TensorFlow is imported only by `tf_pipeline` (and the tf.data feed) and by the tfds loader.
"""

from __future__ import annotations

from pathlib import Path

from ganspec.data import arrays, tfds_source, toy  # noqa: F401  (register the loaders)
from ganspec.data.dataset import ArrayDataset, Dataset, ToyDataset
from ganspec.data.errors import DataError, bad_data
from ganspec.data.registry import LOADERS, Request
from ganspec.diagnostics import Severity, error
from ganspec.ir.components import Source
from ganspec.ir.spec import Conditional, Data, Spec


def load_source(source: Source, data: Data | None = None, spec_dir: str | Path | None = None,
                conditional: Conditional | None = None) -> Dataset:
    """Load one data source with the preprocessing of `data` (defaults when None)."""
    data = data if data is not None else Data(source=source)
    request = Request(source, data, Path(spec_dir) if spec_dir is not None else None, conditional)
    return LOADERS[source.kind](request)


def load_data(spec: Spec, spec_dir: str | Path | None) -> Dataset:
    """The real data of an experiment, checked against what the spec's networks and batch expect."""
    request = Request(spec.data.source, spec.data, Path(spec_dir) if spec_dir is not None else None,
                      spec.conditional, spec.span)
    dataset = LOADERS[spec.data.source.kind](request)
    for check in FIT_CHECKS:
        problem = check(spec, dataset, request)
        if problem is not None:
            raise problem
    return dataset


# ---- does the loaded data fit the spec? -----------------------------------------------------

LABEL_HINTS = {
    "idx": 'name the labels file: idx("images", labels: "labels")',
    "npz": 'name the labels array: npz("data.npz", labels_key: "y")',
    "folder": "put the images in one sub-folder per class",
    "tfds": "name the data set's label feature with `label_key`",
}


def check_labels(spec: Spec, dataset: Dataset, request: Request) -> DataError | None:
    """A conditional GAN needs labels, all below `conditional.classes` (Mirza & Osindero 2014)."""
    if spec.conditional is None:
        return None
    labels = getattr(dataset, "labels", None)
    if labels is None:
        kind = spec.data.source.kind
        return DataError(error("E305", f"a conditional GAN needs labels, but this {kind}() data has none",
                               request.span(), LABEL_HINTS.get(kind)))
    classes = spec.conditional.classes
    if dataset.num_classes is not None and dataset.num_classes > classes:
        return bad_data(f"the data has {dataset.num_classes} classes (labels up to {int(labels.max())}), "
                        f"but the spec's conditional block says {classes}",
                        spec.conditional.field_span("classes") or request.span(),
                        f"set `conditional {{ classes {dataset.num_classes} }}`")
    return None


def check_batch_fits(spec: Spec, dataset: Dataset, request: Request) -> DataError | None:
    """A batch must fit in one epoch (batches never mix epochs)."""
    if dataset.size is not None and spec.train.batch > dataset.size:
        return bad_data(f"batch {spec.train.batch} is larger than the data ({dataset.size} examples)",
                        spec.train.field_span("batch") or request.span(),
                        "lower `train.batch`, or raise `data.limit`" if spec.data.limit else
                        "lower `train.batch`")
    return None


def check_network_shapes(spec: Spec, dataset: Dataset, request: Request) -> DataError | None:
    """The generator must make, and the critic take, samples of the real data's shape (E303, E302, E301)."""
    from ganspec.checks import Context, check_critic_shapes, check_generator_shapes

    context = Context(spec, request.spec_dir, data_shape=tuple(dataset.sample_shape))
    for check in (check_generator_shapes, check_critic_shapes):
        problems = [d for d in check(context) if d.severity is Severity.ERROR]
        if problems:
            return DataError(problems)
    return None


FIT_CHECKS = (check_labels, check_batch_fits, check_network_shapes)

__all__ = ["ArrayDataset", "DataError", "Dataset", "LOADERS", "ToyDataset", "load_data", "load_source"]
