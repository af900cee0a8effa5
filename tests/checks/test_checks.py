"""Each semantic check fires on the case it is about, and stays quiet on a clean spec."""

from __future__ import annotations


from ganspec.load import load_text

CLEAN = """
experiment clean {
  data { source ring }
  latent normal(2)
  generator { dense(32) relu dense(2) }
  critic { dense(32) relu dense(1) }
  objective non_saturating
  %s
}
"""

IMAGE = """
experiment image {
  data { source tfds("mnist") scale [-1, 1] }
  latent normal(16)
  generator { dense(7 * 7 * 8) reshape(7, 7, 8) conv_transpose(8, kernel: 4, stride: 2) conv_transpose(8, kernel: 4, stride: 2) %s }
  critic { %s }
  objective %s
  %s
}
"""


def codes(text):
    return [d.code for d in load_text(text).diagnostics]


def test_clean_spec_has_no_findings():
    assert codes(CLEAN % "") == []


def test_wasserstein_needs_lipschitz():
    text = CLEAN.replace("objective non_saturating", "objective wasserstein")
    assert codes(text % "") == ["W400"]
    for constraint in ["constraint weight_clip", "constraint gradient_penalty", "constraint spectral_norm"]:
        assert "W400" not in codes(text % constraint)
    sn_block = text.replace("critic { dense(32) relu dense(1) }", "critic { spectral_norm { dense(32) } relu dense(1) }")
    assert "W400" not in codes(sn_block % "")


def test_penalty_with_batchnorm():
    text = (CLEAN % "constraint r1(1)").replace("critic { dense(32) relu", "critic { dense(32) batchnorm relu")
    assert codes(text) == ["W401"]
    assert codes(text.replace("batchnorm", "layernorm")) == []


def test_clip_with_momentum_optimizer():
    assert codes(CLEAN % "constraint weight_clip(0.01)") == ["W402"]
    assert codes(CLEAN % "constraint weight_clip(0.01) optimizer.critic rmsprop") == []
    assert codes(CLEAN % "constraint weight_clip(0.01) optimizer.critic adam(beta1: 0)") == []
    assert codes(CLEAN % "constraint weight_clip(0.01) optimizer.critic sgd(momentum: 0.9)") == ["W402"]


def test_sigmoid_on_logits():
    text = (CLEAN % "").replace("relu dense(1) }", "relu dense(1) sigmoid }")
    assert codes(text) == ["W403"]
    assert codes(text.replace("non_saturating", "least_squares")) == []


def test_minimax_saturates():
    assert codes((CLEAN % "").replace("non_saturating", "minimax")) == ["W404"]


def test_f_divergence_domain_and_output_activation():
    text = (CLEAN % "").replace("non_saturating", "f_divergence(gan, activation: identity)")
    assert codes(text) == ["E307"]
    assert codes((CLEAN % "").replace("non_saturating", "f_divergence(kl, activation: identity)")) == []
    text = (CLEAN % "").replace("non_saturating", "f_divergence(pearson)").replace("dense(1) }", "dense(1) tanh }")
    assert codes(text) == ["W405"]


def test_output_range():
    assert codes(IMAGE % ("conv(1, kernel: 3) sigmoid", "flatten dense(1)", "hinge", "")) == ["W407"]
    assert codes(IMAGE % ("conv(1, kernel: 3) tanh", "flatten dense(1)", "hinge", "")) == []
    assert codes(IMAGE % ("conv(1, kernel: 3) tanh", "flatten dense(1)", "hinge", "data.scale [0, 1]")) == ["W407"]


def test_consistency_needs_dropout():
    assert codes(CLEAN % "constraint consistency") == ["W408"]
    with_dropout = (CLEAN % "constraint consistency").replace("critic { dense(32) relu", "critic { dense(32) relu dropout(0.1)")
    assert codes(with_dropout) == []


def test_label_tricks_without_targets():
    assert codes((CLEAN % "tricks.label_smoothing 0.1").replace("non_saturating", "hinge")) == ["W411"]
    assert codes((CLEAN % "tricks.label_flip 0.05").replace("non_saturating", "relativistic")) == ["W411"]
    assert codes((CLEAN % "tricks.label_smoothing 0.1").replace("non_saturating", "f_divergence(kl)")) == ["W411"]
    assert codes(CLEAN % "tricks.label_smoothing 0.1") == []


def test_generator_must_make_data_shape():
    assert codes(IMAGE % ("conv(3, kernel: 3) tanh", "flatten dense(1)", "hinge", "")) == ["E303"]
    assert codes(IMAGE % ("conv(1, kernel: 3, stride: 2) tanh", "flatten dense(1)", "hinge", "")) == ["E303"]


def test_shape_error_names_the_layer_and_shapes():
    diag, = load_text(IMAGE % ("reshape(5, 5, 1)", "flatten dense(1)", "hinge", "")).diagnostics
    assert diag.code == "E301"
    assert "(28, 28, 8)" in diag.message and "(5, 5, 1)" in diag.message
    assert diag.span.line == 5 and diag.notes == ("input to this layer: (28, 28, 8)",)


def test_conv_needs_images():
    text = (CLEAN % "").replace("critic { dense(32)", "critic { conv(8) dense(32)")
    diag, = load_text(text).diagnostics
    assert diag.code == "E301" and "image input" in diag.message


def test_critic_must_end_in_one_unit():
    diag, = load_text(IMAGE % ("conv(1, kernel: 3) tanh", "conv(4) dense(1)", "hinge", "")).diagnostics
    assert diag.code == "E302" and diag.hint == "add flatten before the last dense(1)"


def test_pack_and_conditional_shapes():
    text = IMAGE % ("conv(1, kernel: 3) tanh", "flatten dense(1)", "hinge", "conditional { classes 10 }")
    assert codes(text) == []
    from ganspec.explain import network_tables

    spec = load_text(text).spec
    g, c = network_tables(spec)
    assert g.input_shape == (26,) and c.input_shape == (28, 28, 11)
    packed = text.replace("critic {", "critic(pack: 4) {")
    g, c = network_tables(load_text(packed).spec)
    assert c.input_shape == (28, 28, 14)
    assert codes(packed.replace("hinge", "hinge\n train.batch 30")) == ["E306"]


def test_pack_is_for_the_critic():
    assert "E204" in codes((CLEAN % "").replace("generator {", "generator(pack: 2) {"))


def test_metrics_must_fit_the_data():
    assert codes(CLEAN % "evaluate.metrics [fid]") == ["E204"]
    assert codes(CLEAN % "evaluate.metrics [mode_coverage, wasserstein_distance]") == []
    assert codes(IMAGE % ("conv(1, kernel: 3) tanh", "flatten dense(1)", "hinge", "evaluate.metrics [mode_coverage]")) == ["E204"]


def test_missing_data_file_is_a_warning(tmp_path):
    text = IMAGE.replace('tfds("mnist")', 'idx("nowhere.gz")') % ("conv(1, kernel: 3) tanh", "flatten dense(1)", "hinge", "")
    assert codes(text) == ["W406"]


def test_idx_header_gives_the_shape(tmp_path):
    import struct

    (tmp_path / "imgs").write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, 5, 12, 12) + bytes(5 * 144))
    text = IMAGE.replace('tfds("mnist")', 'idx("imgs")') % ("conv(1, kernel: 3) tanh", "flatten dense(1)", "hinge", "")
    diags = load_text(text, spec_dir=tmp_path).diagnostics
    assert [d.code for d in diags] == ["E303"] and "(12, 12, 1)" in diags[0].message


def test_every_check_has_a_docstring():
    from ganspec.checks import CHECKS

    assert all(check.__doc__ for check in CHECKS)


def test_explicit_padding_not_smaller_than_the_kernel():
    critic = "conv(8, kernel: 3, stride: 2, padding: %s) flatten dense(1)"
    base = IMAGE % ("conv(1, kernel: 3, padding: 1) tanh", "%s", "hinge", "")
    assert codes(base % (critic % "1")) == []
    assert codes(base % (critic % "[0, 2]")) == []
    text = base % (critic % "[1, 3]")
    found = load_text(text).diagnostics
    assert [(d.code, d.hint) for d in found] == [
        ("E202", "PyTorch's usual choice keeps the size at stride 1: padding: 1")]
    line = text.splitlines()[found[0].span.line - 1]
    assert line[found[0].span.column - 1:].startswith("[1, 3]")
