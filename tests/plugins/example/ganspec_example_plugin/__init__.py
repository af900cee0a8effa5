"""An example ganspec plugin: one layer and one objective. This is the IR half, which `validate`,
`explain`, `diff` and `fmt` import: pydantic classes only, no TensorFlow or Keras. Each class names
its training half (`training.py`) in `implementation`, imported only when a run needs it.

Installed as a package, it is found by its entry point (pyproject.toml):

    [project.entry-points."ganspec.plugins"]
    example = "ganspec_example_plugin"
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ganspec.ir.components import OBJECTIVES, Objective
from ganspec.ir.layers import LAYERS, Layer, ShapeError


@LAYERS.register
class FourierFeatures(Layer):
    """Random Fourier features (Rahimi & Recht 2007; Tancik et al. 2020, eq. 5): [sin(2 pi x B), cos(2 pi x B)]
    with a fixed B ~ N(0, scale^2) of shape (inputs, units), drawn once from the spec's seed."""

    kind: Literal["fourier_features"] = "fourier_features"
    units: int = Field(gt=0)
    scale: float = Field(1.0, gt=0)
    positional: ClassVar = ("units",)
    implementation: ClassVar = "ganspec_example_plugin.training:build_fourier_features"

    def output_shape(self, shape):
        if len(shape) != 1:
            raise ShapeError(f"fourier_features needs a vector input, got {shape}", "flatten first")
        return (2 * self.units,)

    def weights(self, shape):
        return 0, shape[-1] * self.units  # B is not trained


@OBJECTIVES.register
class SmoothHinge(Objective):
    """A softplus hinge: critic E[softplus(m - D(x))] + E[softplus(m + D(G(z)))], generator -E[D(G(z))]."""

    kind: Literal["smooth_hinge"] = "smooth_hinge"
    margin: float = Field(1.0, ge=0)
    positional: ClassVar = ("margin",)
    unbounded_critic: ClassVar = True
    real_fake_targets: ClassVar = False
    classification_loss: ClassVar = False
    implementation: ClassVar = "ganspec_example_plugin.training:SMOOTH_HINGE"
