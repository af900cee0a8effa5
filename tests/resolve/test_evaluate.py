"""Evaluation (ganspec.resolve.evaluate): variables, arithmetic, extends (deep merge, chains, cycles),
overrides, and which errors are still reported after one."""

from __future__ import annotations

from ganspec.load import load, load_text
from ganspec.resolve import resolve_file, resolve_text
from tests.resolve.common import BASE, codes, with_setting, write


def test_arithmetic_and_numbers():
    spec = load_text(BASE.replace("iterations 100", "iterations 2 * 1_000 + 10 ** 2 - 6 / 3")).spec
    assert spec.train.iterations == 2098
    spec = load_text(BASE.replace("rmsprop(lr: 5e-5)", "rmsprop(lr: 2e-4)")).spec
    assert spec.optimizer.critic.lr == 0.0002


def test_only_ascii_digits_are_numbers():
    """Python's \\d matches every script's digits; `iterations ７` (a full-width 7) is not a number."""
    assert codes(load_text(BASE.replace("iterations 100", "iterations \uff17"))) == ["E011"]
    assert codes(load_text(BASE.replace("iterations 100", "iterations \u0661\u0660"))) == ["E011"]  # Arabic-Indic 10


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
    two = load(path, overrides=[("seed", "1 train.batch 999")])  # the second setting is not dropped unseen
    assert codes(two) == ["E105"] and "one setting per --set" in two.diagnostics[0].message


def where(resolved):
    return [(d.code, d.span.line, d.span.column) for d in resolved.diagnostics]


def test_each_statement_recovers_from_a_bad_expression():
    resolved = resolve_text(with_setting("let a = q + 1\n  let b = 1 / 0\n  train.batch r * 2"))
    assert [d.message for d in resolved.diagnostics] == [
        "`q` is not defined, so `+` cannot use it", "division by zero", "`r` is not defined, so `*` cannot use it"]
    assert resolved.spec is None


def test_each_layer_recovers_and_a_bad_block_head_skips_its_body():
    text = BASE.replace("critic { dense(hidden) relu dense(1) }",
                        "critic { dense(q + 1) repeat r * 2 { dense(s * 2) } dense(t - 1) }")
    # `s` is never evaluated: the repeat count failed first.
    assert where(resolve_text(text)) == [("E102", 8, 18), ("E102", 8, 32), ("E102", 8, 61)]


def test_network_options_recover_one_by_one():
    text = BASE.replace("critic { dense(hidden)", "critic(pack: q * 2, 3) { dense(hidden)")
    assert [d.message for d in resolve_text(text).diagnostics] == [
        "`q` is not defined, so `*` cannot use it", "critic options are named, like `critic(pack: 2)`"]


def test_an_extends_chain_is_evaluated_once_per_file_and_has_a_depth_limit(tmp_path, monkeypatch):
    """Each parent was evaluated twice per child (2^depth in all: depth 20 took minutes)."""
    from ganspec.resolve import evaluate

    write(tmp_path, "f0.gan", BASE.replace("experiment base", "let width = 4\nexperiment base"))
    for i in range(1, 21):
        write(tmp_path, f"f{i}.gan", f'let width = {i}\nexperiment f{i} extends "f{i - 1}.gan" {{}}')
    calls = []
    real = evaluate.evaluate_document
    monkeypatch.setattr(evaluate, "evaluate_document", lambda *a, **k: calls.append(1) or real(*a, **k))
    resolved = resolve_file(tmp_path / "f20.gan")
    assert codes(resolved) == [] and len(calls) <= 21 + 1  # once per file

    for i in range(21, 70):
        write(tmp_path, f"f{i}.gan", f'experiment f{i} extends "f{i - 1}.gan" {{}}')
    deep = resolve_file(tmp_path / "f69.gan")
    assert "E101" in codes(deep) and "more than 64 files deep" in str([d.message for d in deep.diagnostics])
