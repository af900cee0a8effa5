"""TensorFlow Datasets images (`tfds("mnist", split: "train")`), read once into memory.

TFDS and TensorFlow are imported only when this loader runs. The data set is prepared by
`tfds.builder(name).download_and_prepare()` (a download on first use, into $TFDS_DATA_DIR).
"""

from __future__ import annotations

import re

import numpy as np

from ganspec.backend import INSTALL_HINTS
from ganspec.data.dataset import ArrayDataset
from ganspec.data.errors import bad_data, unreadable
from ganspec.data.registry import Examples, Request, array_dataset, register
from ganspec.diagnostics import did_you_mean

READ_BATCH = 1024


def split_names(split: str) -> list[str]:
    """Base split names in a TFDS split expression: "train[:80%]+test" -> ["train", "test"]."""
    return [part.split("[")[0].strip() for part in re.split(r"\+", split) if part.strip()]


def _import_tfds(request: Request):
    """tensorflow_datasets, or a clear error where it (or TensorFlow) is not installed."""
    try:
        import tensorflow  # noqa: F401  (TFDS reads through tf.data)
        import tensorflow_datasets as tfds
    except ImportError as exc:
        raise unreadable(f"tfds(...) sources need TensorFlow and tensorflow-datasets, which are not installed "
                         f"({exc})", request.span(),
                         INSTALL_HINTS["tfds"]) from None
    return tfds


@register("tfds")
def load_tfds(request: Request) -> ArrayDataset:
    tfds = _import_tfds(request)
    source = request.source
    try:
        builder = tfds.builder(source.name)
    except tfds.core.DatasetNotFoundError:
        raise bad_data(f"unknown TFDS data set {source.name!r}", request.span("name"),
                       did_you_mean(source.name, tfds.list_builders(with_community_datasets=False))) from None
    shape = image_shape(builder.info.features, request)
    try:
        builder.download_and_prepare()
    except Exception as exc:  # TFDS raises many kinds (network, checksum, missing files)
        raise unreadable(f"cannot prepare TFDS data set {source.name!r}: {exc}", request.span("name"),
                         "TFDS downloads on first use; offline, prepare it elsewhere and point "
                         "$TFDS_DATA_DIR at the copy") from None
    check_split(list(builder.info.splits.keys()), request)  # splits are known once prepared
    try:
        ds = builder.as_dataset(split=source.split, shuffle_files=False)
    except Exception as exc:
        raise bad_data(f"cannot read split {source.split!r} of TFDS data set {source.name!r}: {exc}",
                       request.span("split")) from None
    label = builder.info.features[source.label_key] if source.label_key in builder.info.features else None
    images, labels = read_all(ds, shape, label is not None, request)
    examples = Examples(images, labels, getattr(label, "num_classes", None),
                        tuple(label.names) if hasattr(label, "names") else None)
    return array_dataset(request, examples, f"TFDS {source.name}:{source.split}")


def image_shape(features, request: Request) -> tuple:
    """The image feature's shape (None for sizes that vary), checked against the source's `shape`."""
    source = request.source
    if source.image_key not in features:
        raise bad_data(f"TFDS data set {source.name!r} has no feature {source.image_key!r}",
                       request.span("image_key"), f"its features: {', '.join(features.keys())}")
    shape = tuple(features[source.image_key].shape)
    if None in shape and not source.shape:
        raise bad_data(f"the images of TFDS data set {source.name!r} vary in size", request.span(),
                       "give `shape: [height, width, channels]` to resize them as they are read")
    if source.shape and None in shape and shape[2:] not in ((None,), (source.shape[2],)):
        raise bad_data(f"the images of TFDS data set {source.name!r} have {shape[2]} channels, but `shape` "
                       f"says {source.shape[2]}", request.span("shape"))
    if source.shape and None not in shape and tuple(source.shape) != shape:
        raise bad_data(f"the images of TFDS data set {source.name!r} have shape {shape}, but `shape` says "
                       f"{tuple(source.shape)}", request.span("shape"), "drop `shape`; resize with data `resize`")
    return shape


def check_split(known: list[str], request: Request) -> None:
    source = request.source
    for name in split_names(source.split):
        if known and name not in known:
            raise bad_data(f"TFDS data set {source.name!r} has no split {name!r}", request.span("split"),
                           did_you_mean(name, known) or f"its splits: {', '.join(known)}")


def read_all(ds, shape: tuple, has_labels: bool, request: Request):
    """All (or the first `limit`) images and labels of a split, as numpy arrays."""
    import tensorflow_datasets as tfds

    source = request.source
    if request.data.limit is not None:
        ds = ds.take(request.data.limit)
    ds = ds.map(_selector(source, has_labels, shape))
    images, labels = [], []
    for batch in tfds.as_numpy(ds.batch(READ_BATCH)):
        images.append(batch["image"])
        if has_labels:
            labels.append(batch["label"])
    if not images:
        raise bad_data(f"TFDS data set {source.name!r} split {source.split!r} is empty", request.span("split"))
    return np.concatenate(images), (np.concatenate(labels) if has_labels else None)


def _selector(source, has_labels: bool, feature_shape):
    """Keep the image (resized to `shape` when the data set's images vary in size) and the label."""
    import tensorflow as tf

    variable = any(d is None for d in feature_shape)
    size = tuple(source.shape[:2]) if source.shape and variable else None

    def select(example):
        image = example[source.image_key]
        if size is not None:
            image = tf.image.resize(image, size, method="bilinear", antialias=True)
            image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        out = {"image": image}
        if has_labels:
            out["label"] = example[source.label_key]
        return out

    return select
