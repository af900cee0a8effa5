"""Resolution: variables, arithmetic, extends (deep merge, chains, cycles), overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganspec.load import load, load_text
from ganspec.ir.resolve import resolve_file

BASE = """
let hidden = 64
experiment base {
  description "base"
  data { source ring(8, 1.0, 0.01) shuffle 100 }
  latent normal(2)
  generator { dense(hidden) relu dense(2) }
  critic { dense(hidden) relu dense(1) }
  objective wasserstein
  constraint weight_clip(0.01)
  optimizer.critic rmsprop(lr: 5e-5)
  train { batch 128 iterations 100 }
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def codes(resolved):
    return [d.code for d in resolved.diagnostics]


def test_arithmetic_and_numbers():
    spec = load_text(BASE.replace("iterations 100", "iterations 2 * 1_000 + 10 ** 2 - 6 / 3")).spec
    assert spec.train.iterations == 2098
    spec = load_text(BASE.replace("rmsprop(lr: 5e-5)", "rmsprop(lr: 2e-4)")).spec
    assert spec.optimizer.critic.lr == 0.0002


def test_defaults_are_explicit_in_the_resolved_spec():
    dump = load_text(BASE).spec.model_dump()
    assert dump["optimizer"]["generator"] == {"kind": "adam", "lr": 2e-4, "schedule": {"kind": "constant"},
                                              "beta1": 0.5, "beta2": 0.999, "eps": 1e-8}
    assert dump["steps"] == {"critic": 1, "generator": 1, "schedule": None}


def test_spans_are_kept_outside_the_dump():
    spec = load_text(BASE).spec
    assert "span" not in str(spec.model_dump())
    assert spec.optimizer.critic.span.line == 11
    assert spec.optimizer.critic.field_span("lr").column == 32


def test_extends_deep_merge(tmp_path):
    write(tmp_path, "base.gan", BASE)
    child = write(tmp_path, "child.gan", """
experiment child extends "base.gan" {
  data { shuffle 5 }
  optimizer.critic.lr 1e-4
  train.iterations 50
}""")
    spec = load(child).spec
    assert spec.name == "child"
    assert spec.description == "base"
    assert spec.data.shuffle == 5 and spec.data.source.kind == "ring"
    assert spec.optimizer.critic.kind == "rmsprop" and spec.optimizer.critic.lr == 1e-4
    assert (spec.train.iterations, spec.train.batch) == (50, 128)
    assert [c.kind for c in spec.constraints] == ["weight_clip"]


def test_child_variables_override_the_parent(tmp_path):
    write(tmp_path, "base.gan", BASE)
    child = write(tmp_path, "child.gan", 'let hidden = 8\nexperiment child extends "base.gan" {}')
    spec = load(child).spec
    assert spec.generator.layers[0].units == 8 and spec.critic.layers[0].units == 8


def test_child_sees_parent_variables(tmp_path):
    write(tmp_path, "base.gan", BASE)
    child = write(tmp_path, "child.gan", 'experiment child extends "base.gan" { train.batch hidden * 4 }')
    assert load(child).spec.train.batch == 256


def test_child_constraints_replace_the_list_and_none_clears(tmp_path):
    write(tmp_path, "base.gan", BASE)
    a = write(tmp_path, "a.gan", 'experiment a extends "base.gan" { constraint gradient_penalty constraint r1(1) }')
    assert [c.kind for c in load(a).spec.constraints] == ["gradient_penalty", "r1"]
    b = write(tmp_path, "b.gan", 'experiment b extends "base.gan" { objective hinge constraint none }')
    assert load(b).spec.constraints == ()


def test_chain_of_extends(tmp_path):
    write(tmp_path, "base.gan", BASE)
    write(tmp_path, "mid.gan", 'experiment mid extends "base.gan" { seed 3 train.batch 32 }')
    sub = tmp_path / "sub"
    sub.mkdir()
    leaf = write(sub, "leaf.gan", 'experiment leaf extends "../mid.gan" { train.batch 16 }')
    resolved = load(leaf)
    assert (resolved.spec.seed, resolved.spec.train.batch, resolved.spec.train.iterations) == (3, 16, 100)
    assert len(resolved.files) == 3


def test_cycles_are_errors(tmp_path):
    write(tmp_path, "a.gan", 'experiment a extends "b.gan" {}')
    write(tmp_path, "b.gan", 'experiment b extends "c.gan" {}')
    c = write(tmp_path, "c.gan", 'experiment c extends "a.gan" {}')
    resolved = resolve_file(c)
    assert "E101" in codes(resolved)
    assert resolved.spec is None
    self_cycle = write(tmp_path, "self.gan", 'experiment s extends "self.gan" {}')
    assert "E101" in codes(resolve_file(self_cycle))


def test_missing_parent(tmp_path):
    child = write(tmp_path, "child.gan", 'experiment child extends "nope.gan" {}')
    resolved = resolve_file(child)
    assert codes(resolved) == ["E100"]
    assert resolved.diagnostics[0].span.line == 1


def test_parent_errors_point_into_the_parent(tmp_path):
    write(tmp_path, "base.gan", BASE.replace("shuffle 100", "shufle 100"))
    child = write(tmp_path, "child.gan", 'experiment child extends "base.gan" {}')
    (diag,) = resolve_file(child).diagnostics
    assert diag.code == "E200" and diag.span.file.endswith("base.gan")


def test_set_overrides(tmp_path):
    path = write(tmp_path, "base.gan", BASE)
    spec = load(path, overrides=[("optimizer.critic.lr", "1e-3"), ("train.batch", "2 * 32"),
                                 ("objective", "hinge")]).spec
    assert (spec.optimizer.critic.lr, spec.train.batch, spec.objective.kind) == (1e-3, 64, "hinge")
    bad = load(path, overrides=[("train.batch", "((")])
    assert "E105" in codes(bad)


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
    body = BASE.rstrip().removesuffix("}") + "  " + text + "\n}\n"
    assert code in codes(load_text(body, checks=False)), text


def test_unknown_names_suggest():
    resolved = load_text(BASE.replace("objective wasserstein", "objective wassertein"))
    (diag,) = resolved.diagnostics
    assert (diag.code, diag.hint) == ("E201", "did you mean 'wasserstein'?")
    resolved = load_text(BASE.replace("relu dense(1)", "bn dense(1)"))
    assert resolved.diagnostics[0].hint == "did you mean 'batchnorm'?"
    resolved = load_text(BASE.replace("objective wasserstein", "objective relu"))
    assert "layer" in resolved.diagnostics[0].hint
