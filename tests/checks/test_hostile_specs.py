"""Specs written to hurt the checker (issue 14): every one is refused or checked quickly, with a diagnostic,
never a hang, a traceback or a run that dies for want of memory."""

from __future__ import annotations

import json

import pytest

from ganspec import exitcodes
from ganspec.checks import memory
from ganspec.cli import main
from ganspec.explain import memory_estimate, network_tables
from ganspec.ir import layers as L
from ganspec.load import load_text

SPEC = """
experiment hostile {
  data.source ring(8)
  latent normal(2)
  generator { %s }
  critic { %s }
  objective wasserstein
  constraint gradient_penalty(weight: 10)
  train { batch 64 iterations 10 }
  %s
}
"""
GENERATOR = "dense(16) relu dense(2)"
CRITIC = "dense(16) relu dense(1)"


def spec(generator=GENERATOR, critic=CRITIC, extra=""):
    return SPEC % (generator, critic, extra)


def errors(text):
    return [d for d in load_text(text).diagnostics if d.severity.value == "error"]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# ---- repeat bombs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("critic, count", [
    ("repeat(1000000000) { relu } dense(1)", 1_000_000_001),
    ("repeat(1000000) { relu } dense(1)", 1_000_001),
    ("repeat 1000 { repeat 1000 { relu } } dense(1)", 1_000_001),  # nested: the counts multiply
    ("repeat 60000 { relu } repeat 60000 { relu } dense(1)", 120_001),  # side by side: they add up
])
def test_a_repeat_counts_as_its_copies_written_out(critic, count):
    """`repeat n { body }` is n x body layers against the limit of blocks written out (E107), refused
    before any stage walks the copies."""
    (diag,) = errors(spec(critic=critic))
    assert diag.code == "E107"
    assert f"the critic writes out {count:,} layers, more than 100,000" in diag.message
    assert diag.span.line == 6  # at the repeat's count


def test_a_long_repeat_of_one_shape_is_walked_once():
    """Copies that give back their input shape are alike: walked once, one row each with its copies."""
    resolved = load_text(spec(critic="dense(8) repeat 49999 { dense(8) relu } dense(1)"))
    assert resolved.ok, resolved.diagnostics
    _, critic = network_tables(resolved.spec)
    body = [(r.layer.label(), r.copies) for r in critic.rows if r.depth == 1]
    assert body == [("dense(8)", 49_999), ("relu", 49_999)]
    assert critic.trainable == (2 * 8 + 8) + 49_999 * (8 * 8 + 8) + (8 + 1)
    assert critic.to_json()["layers"][2]["trainable"] == 49_999 * 72  # the row's weights, all copies


def test_copies_are_walked_until_they_keep_the_shape():
    """The first copy changes the shape (2 -> 8); the other two are alike and shown once."""
    _, rows = L.walk([L.Repeat(count=3, layers=(L.Dense(units=8), L.Relu()))], (2,))
    assert [(r.layer.label(), r.in_shape, r.copies) for r in rows[1:]] == [
        ("dense(8)", (2,), 1), ("relu", (8,), 1), ("dense(8)", (8,), 2), ("relu", (8,), 2)]
    assert L.totals(rows) == (3 * 8 + 2 * 72, 0)


def test_explain_collapses_alike_copies_into_one_row(tmp_path, capsys):
    """`explain` shows a repeat's alike copies as one row with a multiplier, not one row per copy."""
    path = tmp_path / "long.gan"
    path.write_text(spec(critic="repeat 50000 { relu } dense(1)"))
    code, out, _ = run(capsys, "explain", str(path))
    assert code == exitcodes.OK
    critic = out[out.index("critic: (2) -> (1)"):]
    assert "relu x 50,000" in critic and critic.count("relu") == 1


def test_a_residual_on_a_huge_image_finds_no_projection_without_trying_each_stride():
    """The projection's stride is worked out, not searched for among the image's 2**40 rows."""
    body = (L.Conv(filters=1, kernel=2, padding="valid"),)
    with pytest.raises(L.StackShapeError, match="no strided 1x1 projection fits"):
        L.walk([L.Residual(layers=body)], (2**40, 2**10, 1))
    # and the one that fits is found at once
    out, rows = L.walk([L.Residual(layers=(L.Conv(filters=4, kernel=1, stride=3),))], (2**40, 2**10, 1))
    assert rows[-1].layer == L.Conv(filters=4, kernel=1, stride=3) and rows[-1].note == "projection"


def test_shapes_that_outgrow_any_machine_stop_the_walk():
    """Upsampling without end makes numbers too large for a float: a diagnostic, not an OverflowError."""
    (diag,) = errors(spec(generator="dense(4) reshape(2, 2, 1) repeat 600 { upsample } conv(1, stride: 2) "
                                    "flatten dense(2)"))
    assert diag.code == "E301" and "more than 2**53 values per sample" in diag.message


# ---- booleans where numbers belong -------------------------------------------------------------------


@pytest.mark.parametrize("where, text, message", [
    ("train", "train.batch true", "train.batch must be an integer, not true"),
    ("seed", "seed true", "seed must be an integer, not true"),
    ("iterations", "train.iterations false", "train.iterations must be an integer, not false"),
    ("lr", "optimizer.critic adam(lr: true)", "adam.lr must be a number, not true"),
    ("scale", "data.scale [true, 1]", "data.scale[0] must be a number, not true"),
])
def test_a_bool_is_not_a_number(where, text, message):
    """Python's bool is an int, and pydantic's lax mode takes it for 1; the typer refuses it wherever a
    field does not take true or false."""
    text = spec(extra=text).replace("train { batch 64 iterations 10 }", "train.iterations 10") \
        if where == "train" else spec(extra=text)
    (diag,) = errors(text)
    assert diag.message == message and diag.code in ("E202", "E204")


def test_a_bool_is_not_a_layer_argument_nor_a_repeat_count():
    (diag,) = errors(spec(generator="dense(true) relu dense(2)"))
    assert (diag.code, diag.message) == ("E202", "dense.units must be an integer, not true")
    (diag,) = errors(spec(critic="repeat true { relu } dense(1)"))
    assert (diag.code, diag.message) == ("E204", "repeat count must be an integer, not true")


def test_bools_still_set_switches():
    resolved = load_text(spec(extra="data.cache false\n  steps.share_real_batch true\n  steps.critic 5"))
    assert resolved.ok, resolved.diagnostics
    assert resolved.spec.data.cache is False and resolved.spec.steps.share_real_batch is True


# ---- memory -------------------------------------------------------------------------------------------


def test_weights_beyond_any_machine_are_an_error():
    """10**12 weights, four times over (the weights, their gradients, Adam's two slots): E313."""
    (diag,) = errors(spec(generator="dense(1000) dense(1000000000) dense(2)"))
    assert diag.code == "E313" and "mostly weights" in diag.message
    assert diag.span.line == 5 and diag.span.column == 27  # at dense(1000000000)


def test_a_metric_buffer_beyond_any_machine_is_an_error():
    """wasserstein_distance(10**6) builds a 10**6 x 10**6 cost matrix (and the differences before it)."""
    (diag,) = errors(spec(extra="evaluate.metric wasserstein_distance(1000000)"))
    assert diag.code == "E313" and "mostly metrics" in diag.message and diag.span.line == 10


def test_a_latent_beyond_any_machine_is_an_error():
    """z of 10**9 numbers into dense(100): 10**11 weights, four times over."""
    text = spec(generator="dense(100) relu dense(2)").replace("latent normal(2)", "latent normal(1000000000)")
    (diag,) = errors(text)
    assert diag.code == "E313" and "mostly weights" in diag.message


def test_validate_fails_on_a_spec_no_machine_can_train(tmp_path, capsys):
    path = tmp_path / "huge.gan"
    path.write_text(spec(extra="evaluate.metric wasserstein_distance(1000000)"))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == exitcodes.INVALID and "E313" in out


def test_more_than_this_machine_holds_is_a_warning(monkeypatch):
    monkeypatch.setattr(memory, "physical_memory", lambda: 2**20)
    (diag,) = load_text(spec(extra="train.generator_batch 100000")).diagnostics
    assert diag.code == "W416" and "mostly activations" in diag.message
    monkeypatch.setattr(memory, "physical_memory", lambda: None)  # a system that does not say: no warning
    assert load_text(spec(extra="train.generator_batch 100000")).diagnostics == []


def test_the_estimate_adds_up_what_a_run_holds():
    text = spec(extra="evaluate.metric wasserstein_distance(500)").replace("ring(8)", "ring(1000)")
    resolved = load_text(text)
    tables = network_tables(resolved.spec)
    estimate = memory_estimate(resolved.spec, tables)
    trainable = sum(t.trainable for t in tables)
    assert estimate.weights == 4 * 4 * trainable
    # generator: z (2), dense 16, relu 16, dense 2; critic: input 2, dense 16, relu 16, dense 1
    assert estimate.activations == 4 * 3 * 64 * ((2 + 16 + 16 + 2) + (2 + 16 + 16 + 1))
    assert estimate.data == 48 * 1000
    assert estimate.metrics == 500 * 500 * 3 * 8
    assert estimate.total == estimate.weights + estimate.activations + estimate.data + estimate.metrics


def test_explain_shows_the_estimate(tmp_path, capsys):
    path = tmp_path / "s.gan"
    path.write_text(spec())
    code, out, _ = run(capsys, "explain", str(path))
    assert code == exitcodes.OK and "training memory (static estimate): about" in out
    code, out, _ = run(capsys, "explain", "--format", "json", str(path))
    data = json.loads(out)["memory"]
    assert data["total"] == data["weights"] + data["activations"] + data["data"] + data["metrics"] > 0


def test_the_catalogue_needs_no_error_nor_warning_of_memory(capsys):
    from tests.conftest import SPECS

    code, out, _ = run(capsys, "validate", "--format", "json", str(SPECS))
    found = [d["code"] for f in json.loads(out)["files"] for d in f["diagnostics"]]
    assert not {"E313", "W416"} & set(found)


def test_the_estimate_reads_a_data_files_array_from_its_header(tmp_path):
    """An .npz array of 100 images of 4x4: 1,600 values, held as float32 (the header says; nothing is loaded)."""
    import numpy as np

    np.savez(tmp_path / "images.npz", x=np.zeros((100, 4, 4, 1), dtype=np.uint8))
    text = spec(generator="dense(16) reshape(4, 4, 1)", critic="flatten dense(1)")
    text = text.replace("ring(8)", 'npz("images.npz")')
    resolved = load_text(text, spec_dir=tmp_path)
    assert resolved.ok, resolved.diagnostics
    assert memory_estimate(resolved.spec, network_tables(resolved.spec, tmp_path), tmp_path).data == 100 * 16 * 4
