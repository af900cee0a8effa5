"""The tf.data side of the data stage; the only module here that imports TensorFlow at the top.

    ds = tf_batches(dataset, 64, seed=spec.seed, start_batch=step)  # endless, resumes exactly

Batch order comes from the numpy side (`index_batches`, toy generators), so TensorFlow and
numpy batches are the same batches; TensorFlow does the gathering, scaling and resizing.
This module reads `dataset.py`; nothing there reads this one.
"""

from __future__ import annotations

import tensorflow as tf

from ganspec.data.dataset import ArrayDataset, Dataset, Preprocess, ToyDataset

AUTOTUNE = tf.data.AUTOTUNE
CACHE_CHUNK = 4096


def generated_batches(dataset: ToyDataset, batch_size: int, seed: int, start_batch: int) -> tf.data.Dataset:
    """Toy batches, drawn by numpy, served by tf.data."""
    spec = tf.TensorSpec((batch_size, *dataset.sample_shape), tf.float32)
    ds = tf.data.Dataset.from_generator(lambda: dataset.numpy_batches(batch_size, seed, start_batch),
                                        output_signature=spec)
    return ds.prefetch(AUTOTUNE)


def preprocess(x: tf.Tensor, prep: Preprocess) -> tf.Tensor:
    """Scale pixels and resize, as `Preprocess.numpy` does (tf.image.resize, bilinear, antialiased)."""
    x = tf.cast(x, tf.float32)
    if prep.divisor is not None:
        x = x / prep.divisor + prep.scale[0]
    if prep.resize is not None and tuple(x.shape[1:3]) != tuple(prep.resize):
        x = tf.image.resize(x, prep.resize, method="bilinear", antialias=True)
    return x


def array_batches(dataset: ArrayDataset, batch_size: int, seed: int, start_batch: int) -> tf.data.Dataset:
    """Batches gathered from in-memory examples (or their cached preprocessed copy) by index."""
    dataset.batches_per_epoch(batch_size)  # fail here, not inside tf.data, when the batch is too big
    indices = tf.data.Dataset.from_generator(lambda: dataset.index_batches(batch_size, seed, start_batch),
                                             output_signature=tf.TensorSpec((batch_size,), tf.int64))
    prep = dataset.preprocess
    if dataset.cache:
        table = tf.concat([preprocess(dataset.examples[i:i + CACHE_CHUNK], prep)
                           for i in range(0, dataset.size, CACHE_CHUNK)], axis=0)

        def images(idx):
            return tf.gather(table, idx)
    else:
        examples = tf.convert_to_tensor(dataset.examples)

        def images(idx):
            return preprocess(tf.gather(examples, idx), prep)

    if dataset.conditional:
        labels = tf.convert_to_tensor(dataset.labels, tf.int32)

        def fetch(idx):
            return images(idx), tf.gather(labels, idx)
    else:
        fetch = images
    ds = indices.map(fetch, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


# One tf.data construction per kind of Dataset.
TF_BATCHES = {
    ToyDataset: generated_batches,
    ArrayDataset: array_batches,
}


def tf_batches(dataset: Dataset, batch_size: int, seed: int, start_batch: int = 0) -> tf.data.Dataset:
    """The batches of `dataset.numpy_batches` as a prefetched, endless `tf.data.Dataset`."""
    kind = next(k for k in type(dataset).__mro__ if k in TF_BATCHES)
    return TF_BATCHES[kind](dataset, batch_size, seed, start_batch)


def stacked_batches(ds: tf.data.Dataset, count: int) -> tf.data.Dataset:
    """`count` consecutive batches of `ds` stacked into one element ([count, batch, ...], and labels
    [count, batch]), prepared ahead: the real data of one iteration with `count` critic steps."""
    return ds.batch(count, drop_remainder=True).prefetch(AUTOTUNE)
