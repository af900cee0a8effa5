"""The models of the hand-written reference loops (shared/BENCHMARKS.md, section 3), built layer by
layer with Keras as their sources write them; backend-neutral (bench/throughput*.py)."""

from __future__ import annotations

import keras
from keras import layers


def keras_io_critic() -> keras.Model:
    """keras.io WGAN-GP `get_discriminator_model`: conv_block(64..512, 5x5, s2, LeakyReLU 0.2)."""
    inputs = layers.Input((28, 28, 1))
    x = layers.ZeroPadding2D((2, 2))(inputs)
    for filters, dropout in ((64, False), (128, True), (256, True), (512, False)):
        x = layers.Conv2D(filters, (5, 5), strides=(2, 2), padding="same", use_bias=True)(x)
        x = layers.LeakyReLU(0.2)(x)
        if dropout:
            x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(inputs, layers.Dense(1)(x), name="discriminator")


def keras_io_generator(noise_dim: int = 128) -> keras.Model:
    """keras.io WGAN-GP `get_generator_model`: Dense 4x4x256, three upsample_blocks, Cropping2D."""
    noise = layers.Input((noise_dim,))
    x = layers.Dense(4 * 4 * 256, use_bias=False)(noise)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((4, 4, 256))(x)
    for filters, activation in ((128, layers.LeakyReLU(0.2)), (64, layers.LeakyReLU(0.2)),
                                (1, layers.Activation("tanh"))):
        x = layers.UpSampling2D((2, 2))(x)
        x = layers.Conv2D(filters, (3, 3), strides=(1, 1), padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = activation(x)
    return keras.Model(noise, layers.Cropping2D((2, 2))(x), name="generator")


def tutorial_generator(noise_dim: int = 100) -> keras.Model:
    """TensorFlow DCGAN tutorial `make_generator_model` (LeakyReLU's Keras default slope, 0.3)."""
    return keras.Sequential([
        keras.Input((noise_dim,)),
        layers.Dense(7 * 7 * 256, use_bias=False), layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding="same", use_bias=False, activation="tanh"),
    ], name="generator")


def tutorial_discriminator() -> keras.Model:
    """TensorFlow DCGAN tutorial `make_discriminator_model`."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(64, (5, 5), strides=(2, 2), padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Conv2D(128, (5, 5), strides=(2, 2), padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Flatten(), layers.Dense(1),
    ], name="discriminator")
