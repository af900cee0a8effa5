"""Typing (ganspec.resolve.to_ir): raw values -> IR nodes, defaults, spans, bad values and names,
and which errors are still reported after one."""

from __future__ import annotations

import pytest

from ganspec.load import load_text
from ganspec.resolve import resolve_text
from tests.resolve.common import BASE, codes, with_setting


def test_defaults_are_explicit_in_the_resolved_spec():
    dump = load_text(BASE).spec.model_dump()
    assert dump["optimizer"]["generator"] == {"kind": "adam", "lr": 2e-4, "schedule": {"kind": "constant"},
                                              "beta1": 0.5, "beta2": 0.999, "eps": 1e-8}
    assert dump["steps"] == {"critic": 1, "generator": 1, "schedule": None, "order": "critic_first",
                             "share_real_batch": False}
    assert dump["train"]["generator_batch"] is None  # the critic's batch


def test_spans_are_kept_outside_the_dump():
    spec = load_text(BASE).spec
    assert "span" not in str(spec.model_dump())
    assert spec.optimizer.critic.span.line == 11
    assert spec.optimizer.critic.field_span("lr").column == 32


def test_block_setting_true_gives_defaults():
    spec = load_text(BASE.replace("train {", "ema true\n train {")).spec
    assert spec.ema.decay == 0.999


@pytest.mark.parametrize("text, code", [
    ("train { batch 0 }", "E204"),
    ("train { batch 1.5 }", "E204"),
    ("optimizer.generator adam(lr: -1)", "E202"),
    ("optimizer.generator adam(beta1: 1)", "E202"),
    ("tricks.label_flip 1.5", "E204"),
    ("steps.critic 0", "E204"),
    ("latent normal(1, 2, 3)", "E104"),
    ("optimizer.generator adam(1e-4, 2e-4)", "E202"),
    ("optimizer.generator adam(lr: 1, lr: 2)", "E202"),
    ("optimizer.generator adam(lr: 1, 2)", "E202"),
    ("optimizer.generator.lr 1e-3 optimizer.generator.lr 1e-4", "E104"),
    ("data.source mnist", "E201"),
    ("data.source relu", "E201"),
    ("evaluate.metrics 3", "E204"),
    ("tricks.unrolled -1", "E204"),
    ("seed -1", "E204"),
    ("data.scale [0, 1, 2]", "E204"),
])
def test_bad_values_have_codes(text, code):
    assert code in codes(load_text(with_setting(text), checks=False)), text


def test_unknown_names_suggest():
    resolved = load_text(BASE.replace("objective wasserstein", "objective wassertein"))
    (diag,) = resolved.diagnostics
    assert (diag.code, diag.hint) == ("E201", "did you mean 'wasserstein'?")
    resolved = load_text(BASE.replace("relu dense(1)", "bn dense(1)"))
    assert resolved.diagnostics[0].hint == "did you mean 'batchnorm'?"
    resolved = load_text(BASE.replace("objective wasserstein", "objective relu"))
    assert "layer" in resolved.diagnostics[0].hint


def test_every_setting_of_a_block_is_checked():
    resolved = resolve_text(with_setting('bogus 1\n  train.batch 0\n  data.shuffle "a"'))
    assert [(d.code, d.span.line) for d in resolved.diagnostics] == [("E200", 13), ("E204", 15), ("E204", 14)]
    assert resolved.spec is None


def test_every_argument_of_a_call_is_checked():
    resolved = resolve_text(BASE.replace("rmsprop(lr: 5e-5)", 'rmsprop(1, 2, bogus: 3, lr: "a")'))
    assert [d.message for d in resolved.diagnostics] == [
        "rmsprop() takes 1 positional argument (lr), got 2", "rmsprop() has no argument `bogus`",
        "rmsprop(): `lr` is given twice (by position and by name)"]
    resolved = resolve_text(BASE.replace("rmsprop(lr: 5e-5)", 'adam(lr: "a", beta1: "b")'))
    assert [d.message.split(" must")[0] for d in resolved.diagnostics] == ["adam.lr", "adam.beta1"]


def test_a_layer_stack_stops_at_its_first_bad_layer():
    resolved = resolve_text(BASE.replace("critic { dense(hidden) relu dense(1) }",
                                         'critic { bogus dense("b") dense(1) }'))
    assert codes(resolved) == ["E201"]


def test_repeat_reports_its_body_and_its_count():
    resolved = resolve_text(BASE.replace("critic { dense(hidden) relu dense(1) }",
                                         "critic { repeat dense(2) { bogus } dense(1) }"))
    assert [d.message for d in resolved.diagnostics] == [
        "unknown layer `bogus`", "repeat count expects a single value, got dense(...)"]


def test_initializers_of_networks_and_layers():
    """`generator(init: ...)` for every weight layer; a layer's own `init` is kept beside it (it wins
    when the models are built); a bare name is the initializer with its defaults."""
    text = BASE.replace("generator {", "generator(init: normal(0, 0.02), bias_init: zeros) {").replace(
        "critic { dense(hidden)", "critic(init: orthogonal) { dense(hidden, init: he_normal, bias_init: pytorch)")
    spec = load_text(text).spec
    assert spec.generator.init.model_dump() == {"kind": "normal", "mean": 0.0, "std": 0.02}
    assert spec.generator.bias_init.kind == "zeros"
    assert spec.generator.layers[0].init is None
    assert spec.critic.init.model_dump() == {"kind": "orthogonal", "gain": 1.0}
    assert spec.critic.bias_init is None
    assert (spec.critic.layers[0].init.kind, spec.critic.layers[0].bias_init.kind) == ("he_normal", "pytorch")
    assert spec.critic.layers[0].field_span("init").line == 8


@pytest.mark.parametrize("text, code, message", [
    ("generator(init: orthogonl) {", "E201", "unknown initializer `orthogonl`"),
    ("generator(init: adam) {", "E201", "unknown initializer `adam`"),
    ("generator(init: normal(0, -1)) {", "E202", "normal.std"),
    ("generator(bias_init: glorot_uniform) {", "E204", "cannot initialize a bias"),
    ("generator(init: 0.02) {", "E204", "expects a initializer"),
])
def test_bad_initializers(text, code, message):
    resolved = resolve_text(BASE.replace("generator {", text))
    assert codes(resolved) == [code]
    assert message in resolved.diagnostics[0].message
