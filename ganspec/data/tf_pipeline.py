"""The tf.data side of the data stage; the only module here that imports TensorFlow at the top.

    ds = tf_batches(dataset, 64, seed=spec.seed, start_batch=step)  # endless, resumes exactly

Batch order and the random draws of each batch (flips, dequantization noise) come from the numpy
side (`batch_plans`, toy generators), so TensorFlow and numpy batches are the same batches;
TensorFlow does the gathering, cropping, scaling, resizing, and applies the draws.
This module reads `dataset.py`; nothing there reads this one.
"""

from __future__ import annotations

import tensorflow as tf

from ganspec.data.dataset import FLIP_AXES, ArrayDataset, Dataset, Preprocess, RandomPreprocess, ToyDataset

AUTOTUNE = tf.data.AUTOTUNE
CACHE_CHUNK = 4096


def generated_batches(dataset: ToyDataset, batch_size: int, seed: int, start_batch: int) -> tf.data.Dataset:
    """Toy batches, drawn by numpy, served by tf.data."""
    spec = tf.TensorSpec((batch_size, *dataset.sample_shape), tf.float32)
    ds = tf.data.Dataset.from_generator(lambda: dataset.numpy_batches(batch_size, seed, start_batch),
                                        output_signature=spec)
    return ds.prefetch(AUTOTUNE)


def preprocess(x: tf.Tensor, prep: Preprocess) -> tf.Tensor:
    """Crop, scale pixels and resize, as `Preprocess.numpy` does (tf.image.resize, bilinear, antialiased)."""
    box = prep.crop_box(tuple(x.shape[1:]))
    if box is not None:
        top, left, height, width = box
        x = x[:, top:top + height, left:left + width]
    x = tf.cast(x, tf.float32)
    if prep.divisor is not None:
        x = x / prep.divisor + prep.scale[0]
    if prep.resize is not None and tuple(x.shape[1:3]) != tuple(prep.resize):
        x = tf.image.resize(x, prep.resize, method="bilinear", antialias=True)
    return x


def augment(x: tf.Tensor, plan: dict, aug: RandomPreprocess) -> tf.Tensor:
    """Apply one batch's numpy draws, as `RandomPreprocess.numpy` does."""
    if "flip" in plan:
        x = tf.where(plan["flip"][:, None, None, None], tf.reverse(x, [FLIP_AXES[aug.flip]]), x)
    if "noise" in plan:
        x = x + plan["noise"]
    return x


def plan_signature(dataset: ArrayDataset, batch_size: int) -> dict:
    """The tf.data signature of `ArrayDataset.batch_plans`."""
    signature = {"indices": tf.TensorSpec((batch_size,), tf.int64)}
    if dataset.augment.flip is not None:
        signature["flip"] = tf.TensorSpec((batch_size,), tf.bool)
    if dataset.augment.noise_step is not None:
        signature["noise"] = tf.TensorSpec((batch_size, *dataset.sample_shape), tf.float32)
    return signature


def array_batches(dataset: ArrayDataset, batch_size: int, seed: int, start_batch: int) -> tf.data.Dataset:
    """Batches gathered from in-memory examples (or their cached preprocessed copy) by index."""
    dataset.batches_per_epoch(batch_size)  # fail here, not inside tf.data, when the batch is too big
    plans = tf.data.Dataset.from_generator(lambda: dataset.batch_plans(batch_size, seed, start_batch),
                                           output_signature=plan_signature(dataset, batch_size))
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

    ds = plans.map(lambda plan: (images(plan["indices"]), plan), num_parallel_calls=AUTOTUNE, deterministic=True)
    if dataset.augment.active:
        # A map of its own, kept apart (no map fusion): inside one function TensorFlow's graph
        # optimizer may reorder the scaling's and the noise's additions, a rounding away from numpy.
        ds = ds.map(lambda x, plan: (augment(x, plan, dataset.augment), plan), num_parallel_calls=AUTOTUNE,
                    deterministic=True)
        options = tf.data.Options()
        options.experimental_optimization.map_fusion = False
        ds = ds.with_options(options)
    if dataset.conditional:
        labels = tf.convert_to_tensor(dataset.labels, tf.int32)

        def fetch(x, plan):
            return x, tf.gather(labels, plan["indices"])
    else:
        def fetch(x, plan):
            return x
    ds = ds.map(fetch, num_parallel_calls=AUTOTUNE, deterministic=True)
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
