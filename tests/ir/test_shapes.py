"""The shapes a spec implies (ganspec.ir.shapes): what each network takes, and one data sample."""

from __future__ import annotations

from ganspec.ir.shapes import critic_input_shape, data_sample_shape, fmt_shape, generator_input_shape
from ganspec.load import load_text

TOY = """
experiment toy {
  data { source ring(8, 1.0, 0.01) }
  latent normal(3)
  generator { dense(16) relu dense(2) }
  critic { dense(16) relu dense(1) }
  objective hinge
}
"""


def spec_with(*settings: str, pack: int = 1):
    text = TOY.replace("critic {", f"critic(pack: {pack}) {{").rstrip().removesuffix("}") + "\n".join(settings) + "\n}\n"
    resolved = load_text(text, checks=False)
    assert resolved.ok, [d.message for d in resolved.diagnostics]
    return resolved.spec


def test_generator_input_is_z_plus_the_one_hot_label():
    assert generator_input_shape(spec_with()) == (3,)
    assert generator_input_shape(spec_with("conditional { classes 10 }")) == (13,)


def test_critic_input_is_packed_and_gets_label_channels():
    assert critic_input_shape(spec_with(), (28, 28, 1)) == (28, 28, 1)
    assert critic_input_shape(spec_with(pack=4), (28, 28, 1)) == (28, 28, 4)
    conditional = spec_with("conditional { classes 10 }")
    assert critic_input_shape(conditional, (28, 28, 1)) == (28, 28, 11)
    assert critic_input_shape(conditional, (2,)) == (12,)
    assert critic_input_shape(spec_with("conditional { classes 10 }", pack=2), (28, 28, 1)) == (28, 28, 12)


def test_data_sample_shape_applies_resize():
    assert data_sample_shape(spec_with(), None) == ((2,), None)
    images = spec_with('data.source folder("faces", shape: [64, 64, 3])', "data.resize [32, 32]")
    assert data_sample_shape(images, None) == ((32, 32, 3), None)
    tfds = spec_with('data.source tfds("some_unknown_set")')
    shape, problem = data_sample_shape(tfds, None)
    assert shape is None and "some_unknown_set" in problem


def test_fmt_shape():
    assert (fmt_shape((28, 28, 1)), fmt_shape((2,)), fmt_shape(None)) == ("(28, 28, 1)", "(2)", "unknown")
