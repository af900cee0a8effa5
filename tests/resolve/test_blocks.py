"""Named layers (`let bn = batchnorm(...)`), parameterised blocks (`block name(params) { ... }`) and
residual blocks with declared shortcuts: what they expand to, their scoping, and their errors."""

from __future__ import annotations

from ganspec.ir import layers as L
from ganspec.load import load, load_text
from tests.resolve.common import codes, write

IMAGES = """
{top}
experiment blocks {{
  data {{ source tfds("cifar10") }}
  latent normal(16)
  generator {{ {generator} }}
  critic {{ {critic} }}
  objective hinge
}}
"""
GENERATOR = "dense(4 * 4 * 16) reshape(4, 4, 16) upsample(8) conv(3) tanh"
CRITIC = "conv(16, stride: 2) flatten dense(1)"


def spec_of(top="", generator=GENERATOR, critic=CRITIC):
    resolved = load_text(IMAGES.format(top=top, generator=generator, critic=critic))
    assert not resolved.diagnostics, [d.message for d in resolved.diagnostics]
    return resolved.spec


def errors_of(top="", generator=GENERATOR, critic=CRITIC):
    return load_text(IMAGES.format(top=top, generator=generator, critic=critic)).diagnostics


def test_a_let_names_a_layer_and_a_call_changes_its_arguments_by_name():
    spec = spec_of("let bn = batchnorm(momentum: 0.9, epsilon: 1e-4)\nlet act = leaky_relu(0.1)\nlet plain = relu",
                   critic="conv(16) bn act bn(epsilon: 1e-5) plain flatten dense(1)")
    conv, bn, act, bn2, plain = spec.critic.layers[:5]
    assert (bn.kind, bn.momentum, bn.epsilon) == ("batchnorm", 0.9, 1e-4)
    assert (act.kind, act.alpha) == ("leaky_relu", 0.1)
    assert (bn2.momentum, bn2.epsilon) == (0.9, 1e-5)
    assert plain.kind == "relu"


def test_a_variable_holding_a_number_keeps_a_layers_name_free():
    spec = spec_of("let dense = 32", critic="conv(16) flatten dense(dense) dense(1)")
    assert spec.critic.layers[2].units == 32


def test_positional_arguments_to_a_named_layer_are_refused():
    diags = errors_of("let bn = batchnorm(momentum: 0.9)", critic="conv(16) bn(0.5) flatten dense(1)")
    assert [d.code for d in diags] == ["E202"]
    assert "change its arguments by name" in diags[0].message


def test_a_block_expands_with_its_arguments_defaults_and_scope():
    spec = spec_of("let k = 5\nblock down(c, stride: 2, act: leaky_relu(0.2)) { conv(c, kernel: k, stride: stride) act }",
                   critic="down(8) down(16, stride: 1) down(c: 4, act: relu) flatten dense(1)")
    kinds = [(l.kind, getattr(l, "filters", None), getattr(l, "stride", None)) for l in spec.critic.layers]
    assert kinds[:6] == [("conv", 8, 2), ("leaky_relu", None, None), ("conv", 16, 1), ("leaky_relu", None, None),
                         ("conv", 4, 2), ("relu", None, None)]
    assert spec.critic.layers[0].kernel == 5


def test_none_and_lists_as_block_arguments():
    spec = spec_of("block b(c, norm: none, extra: []) { conv(c) norm extra }",
                   critic="b(8) b(8, norm: batchnorm) b(8, extra: [relu, pool(2)]) flatten dense(1)")
    assert [l.kind for l in spec.critic.layers] == ["conv", "conv", "batchnorm", "conv", "relu", "pool", "flatten",
                                                    "dense"]


def test_blocks_nest_and_may_be_defined_inside_a_network():
    spec = spec_of(critic="block inner(c) { conv(c) relu } block outer(c) { inner(c) inner(c * 2) } "
                          "outer(4) repeat 2 { outer(8) } flatten dense(1)")
    assert [l.filters for l in L.iter_layers(spec.critic.layers) if l.kind == "conv"] == [4, 8, 8, 16]


def test_a_child_file_redefines_a_block_of_its_parent(tmp_path):
    write(tmp_path, "base.gan", IMAGES.format(top="block act { relu }", generator=GENERATOR,
                                               critic="conv(16) act flatten dense(1)"))
    child = write(tmp_path, "child.gan", 'block act { elu }\nexperiment child extends "base.gan" {}')
    assert load(child).spec.critic.layers[1].kind == "elu"
    assert load(tmp_path / "base.gan").spec.critic.layers[1].kind == "relu"


def test_recursion_and_expansion_bombs_are_errors_not_hangs():
    assert [d.code for d in errors_of("block a { relu a }", critic="conv(4) a flatten dense(1)")] == ["E106"]
    bomb = "block b0 { relu relu }\n" + "\n".join(f"block b{i} {{ b{i - 1} b{i - 1} }}" for i in range(1, 40))
    diags = errors_of(bomb, critic="conv(4) b39 flatten dense(1)")
    assert [d.code for d in diags] == ["E107"]


def test_block_argument_errors_are_reported_together():
    diags = errors_of("block b(c, s: 1) { conv(c, stride: s) }",
                      critic="b(1, 2, 3) b(x: 1) b flatten dense(1)")
    assert [d.code for d in diags] == ["E202", "E202", "E203"]


def test_bad_parameter_lists_are_refused():
    assert [d.code for d in errors_of("block b(c, c) { conv(c) }")] == ["E202"]
    assert [d.code for d in errors_of("block b(c: 1, d) { conv(c) }")] == ["E202"]


def test_a_block_used_with_a_body_is_an_error():
    diags = errors_of("block b { relu }", critic="conv(4) b { relu } flatten dense(1)")
    assert [d.code for d in diags] == ["E204"]


def test_declared_shortcuts_shapes_and_weights():
    spec = spec_of(generator="dense(4 * 4 * 16) reshape(4, 4, 16) "
                             "residual(shortcut: [upsample, conv(8, kernel: 1)]) { relu upsample conv(8) } "
                             "upsample(4) conv(3) tanh",
                   critic="residual(shortcut: [conv(16, kernel: 1), pool(2, mode: avg)]) "
                          "{ relu conv(16) pool(2, mode: avg) } residual(shortcut: [conv(16)]) { relu conv(16) } "
                          "residual(shortcut: []) { relu conv(16) } flatten dense(1)")
    out, rows = L.walk(spec.generator.layers, (16,))
    assert out == (32, 32, 3)
    block = next(r for r in rows if r.layer.kind == "residual")
    assert block.out_shape == (8, 8, 8)
    shortcut = [r for r in rows if r.note == "shortcut"]
    assert [r.layer.kind for r in shortcut] == ["upsample", "conv"]
    assert shortcut[1].trainable == 16 * 8 + 8
    out, rows = L.walk(spec.critic.layers, (32, 32, 3))
    assert out == (1,)
    # a declared 3x3 shortcut where the shapes agree: learned, not the identity
    assert [r.trainable for r in rows if r.note == "shortcut" and r.layer.kind == "conv"] == [3 * 16 + 16, 9 * 16 * 16 + 16]
    assert spec.critic.layers[2].shortcut == ()
    assert spec.critic.layers[0].text() == "residual(shortcut: [conv(16, kernel: 1), pool(mode: avg)])"


def test_an_identity_shortcut_that_cannot_be_added_is_an_error():
    diags = errors_of(critic="residual(shortcut: []) { conv(8, stride: 2) } flatten dense(1)")
    assert [d.code for d in diags] == ["E301"]
    assert "shortcut gives (32, 32, 3)" in diags[0].message


def test_a_shortcut_must_hold_layers():
    diags = errors_of(critic="residual(shortcut: [3]) { relu } flatten dense(1)")
    assert [d.code for d in diags] == ["E204"]
