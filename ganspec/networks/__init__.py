"""Stage 5a: the typed spec -> Keras 3 models (generator and critic)."""

from ganspec.networks.keras_models import (
    LAYER_BUILDERS,
    build_critic,
    build_generator,
    count_weights,
    critic_input,
    one_sample_shape,
    pack_labels,
    pack_samples,
    with_label_channels,
)
from ganspec.networks.spectral_norm import SpectralNormalization

__all__ = [
    "LAYER_BUILDERS",
    "SpectralNormalization",
    "build_critic",
    "build_generator",
    "count_weights",
    "critic_input",
    "one_sample_shape",
    "pack_labels",
    "pack_samples",
    "with_label_channels",
]
