"""Update order and batching (`steps.order`, `steps.share_real_batch`, `train.generator_batch`):
what each option computes, the one answer to "how many real batches does iteration i consume",
the checks, fmt and diff, and that the toy ring is still learnt with each.
TF/JAX parity: tests/backends/parity_worker.py (order_*, share_real_batch*, generator_batch*)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ganspec.diff import diff_specs  # noqa: E402
from ganspec.load import load_text  # noqa: E402
from ganspec.metrics import exact_w1  # noqa: E402
from ganspec.syntax.fmt import format_text  # noqa: E402
from ganspec.train.schedules import critic_schedule, critic_steps_at, real_batches_at  # noqa: E402
from ganspec.train.tf_step import compile_training  # noqa: E402
from tests.train.test_tf_step import ring_samples  # noqa: E402

TOY = """
experiment toy {
  seed 4
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(16) relu dense(2) }
  critic { dense(16) relu dense(1) }
  train { batch 16 iterations 50 }
  %s
}
"""
BATCH = 16


def spec_with(settings: str, checks: bool = True):
    resolved = load_text(TOY % settings, checks=checks)
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    return resolved.spec


def codes(settings: str) -> list[str]:
    return [d.code for d in load_text(TOY % settings).diagnostics]


def weights(step) -> list[np.ndarray]:
    return [np.asarray(w) for w in step.generator.weights + step.critic.weights]


# ---- how many real batches an iteration consumes -------------------------------------------


def test_shared_real_batch_is_one_batch_per_iteration():
    spec = spec_with("objective hinge\n steps { critic 5 share_real_batch true }")
    assert [critic_steps_at(spec, i) for i in range(3)] == [5, 5, 5]
    assert [real_batches_at(spec, i) for i in range(3)] == [1, 1, 1]
    assert [real_batches_at(spec_with("objective hinge\n steps.critic 5"), i) for i in range(3)] == [5, 5, 5]


def test_shared_real_batch_with_the_wgan_warmup_schedule():
    spec = spec_with("objective wasserstein\n constraint weight_clip(0.01)\n steps { critic 2 share_real_batch true "
                     "schedule wgan_warmup(critic: 5, first: 2, every: 4) }")
    schedule = critic_schedule(spec)
    assert [schedule.critic_steps(i) for i in range(6)] == [5, 5, 2, 2, 5, 2]
    assert [schedule.real_batches(i) for i in range(6)] == [1] * 6


# ---- what each option computes -------------------------------------------------------------


def test_shared_batch_equals_k_copies_of_it():
    """k critic steps on one shared batch are k critic steps on k copies of that batch."""
    settings = "objective wasserstein\n constraint gradient_penalty\n steps { critic 3 %s }"
    shared = compile_training(spec_with(settings % "share_real_batch true"), sample=(2,))
    copies = compile_training(spec_with(settings % ""), sample=(2,))
    real = np.random.default_rng(1).normal(size=(1, BATCH, 2)).astype("float32")
    a = shared(real, critic_steps=3)
    b = copies(np.repeat(real, 3, axis=0), critic_steps=3)
    assert {k: float(v) for k, v in a.items()} == {k: float(v) for k, v in b.items()}
    for x, y in zip(weights(shared), weights(copies)):
        np.testing.assert_array_equal(x, y)
    assert int(shared.critic_updates.numpy()) == 3
    with pytest.raises(ValueError, match="3 critic steps need 1 real batches, got 3"):
        shared(np.repeat(real, 3, axis=0), critic_steps=3)


def test_generator_first_and_simultaneous_take_the_same_gradients_for_a_per_sample_critic():
    """PyTorch-GAN's gan.py updates G on D_old(G_old(z)) and then D on G_old(z).detach(): the same
    gradients as the TF tutorial's simultaneous step when the critic keeps no per-call state and the
    random draws come in the same order (z, then the penalty points)."""
    settings = "objective wasserstein\n constraint gradient_penalty\n steps.order %s"
    first = compile_training(spec_with(settings % "generator_first"), sample=(2,))
    together = compile_training(spec_with(settings % "simultaneous"), sample=(2,))
    alternating = compile_training(spec_with(settings % "critic_first"), sample=(2,))
    for iteration in range(3):
        real = np.random.default_rng(iteration).normal(size=(1, BATCH, 2)).astype("float32")
        a, b, c = first(real, critic_steps=1), together(real, critic_steps=1), alternating(real, critic_steps=1)
        for name in a:
            np.testing.assert_allclose(float(a[name]), float(b[name]), rtol=1e-5, atol=1e-6, err_msg=name)
    for x, y in zip(weights(first), weights(together)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    # critic_first shows the generator the critic after its update: other numbers.
    assert not all(np.allclose(x, y) for x, y in zip(weights(first), weights(alternating)))
    assert [int(s.critic_updates.numpy()) for s in (first, together, alternating)] == [3, 3, 3]
    assert [int(s.iteration.numpy()) for s in (first, together, alternating)] == [3, 3, 3]


def test_generator_first_runs_the_critic_once_more_on_the_fakes():
    """With dropout in the critic the generator's pass and the critic's pass over the same fakes draw
    different masks (as PyTorch-GAN's two calls do), so the orders differ."""
    dropout = TOY.replace("dense(16) relu dense(1)", "dense(16) relu dropout(0.3) dense(1)")
    specs = [load_text(dropout % f"objective non_saturating\n steps.order {order}").spec
             for order in ("generator_first", "simultaneous")]
    steps = [compile_training(spec, sample=(2,)) for spec in specs]
    real = np.random.default_rng(0).normal(size=(1, BATCH, 2)).astype("float32")
    losses = [float(step(real, critic_steps=1)["critic_loss"]) for step in steps]
    assert np.isfinite(losses).all() and losses[0] != losses[1]


def test_generator_batch_sizes_only_the_generator_update():
    base = compile_training(spec_with("objective hinge"), sample=(2,))
    same = compile_training(spec_with(f"objective hinge\n train.generator_batch {BATCH}"), sample=(2,))
    larger = compile_training(spec_with("objective hinge\n train.generator_batch 48"), sample=(2,))
    real = np.random.default_rng(2).normal(size=(1, BATCH, 2)).astype("float32")
    a, b, c = (step(real, critic_steps=1) for step in (base, same, larger))
    assert {k: float(v) for k, v in a.items()} == {k: float(v) for k, v in b.items()}
    for name in ("critic_loss", "d_real", "d_fake", "critic_grad_norm"):  # the critic's update comes first
        assert float(a[name]) == float(c[name]), name
    assert float(a["generator_loss"]) != float(c["generator_loss"])
    assert larger.generator_batch == 48 and base.generator_batch == BATCH


# ---- checks, fmt, diff -----------------------------------------------------------------------


@pytest.mark.parametrize("settings, expected", [
    ("steps { critic 5 order simultaneous }", ["E308"]),
    ("steps { generator 2 order generator_first }", ["E308"]),
    ("objective hinge\n steps { order simultaneous schedule wgan_warmup(critic: 5, first: 2, every: 4) }",
     ["E308"]),
    ("steps.order simultaneous\n train.generator_batch 32", ["E308"]),
    ("steps.order simultaneous\n tricks.unrolled 2", []),  # the unrolled_gan notebook's order
    ("steps.order generator_first\n train.generator_batch 16", []),  # equal to batch: fine
    ("objective relativistic(standard, average: false)\n train.generator_batch 32", ["E308"]),
    ("objective relativistic(standard)\n train.generator_batch 32", []),
    ("steps.share_real_batch true", ["W413"]),
    ("steps { critic 3 share_real_batch true }", []),
])
def test_update_order_checks(settings, expected):
    found = codes(("objective non_saturating\n" if "objective" not in settings else "") + settings)
    assert found == expected


def test_order_check_points_at_the_critic_steps_with_a_hint():
    text = TOY % "objective non_saturating\n steps {\n critic 5\n order simultaneous\n }"
    (problem,) = load_text(text).diagnostics
    assert (problem.code, problem.severity.value) == ("E308", "error")
    assert (problem.span.line, problem.span.column) == (11, 9)  # `5`
    assert problem.hint == "use steps.critic 1, or order critic_first"


def test_conditional_generator_first_is_refused():
    text = TOY.replace("data { source ring(8, 1.0, 0.05) }",
                       'data { source npz("unused.npz", labels_key: "y") }\n conditional { classes 3 }')
    problems = [d for d in load_text(text % "objective hinge\n steps.order generator_first").diagnostics
                if d.code == "E308"]
    assert len(problems) == 1 and "conditional" in problems[0].message


def test_unknown_order_suggests_the_nearest():
    (problem,) = load_text(TOY % "objective hinge\n steps.order simultanous", checks=False).diagnostics
    assert (problem.code, problem.hint) == ("E204", "did you mean 'simultaneous'?")


@pytest.mark.parametrize("settings", [
    "steps {  order   generator_first }",
    "steps.order simultaneous",
    "steps { critic 5   share_real_batch true }",
    "train {  batch 64 generator_batch   128 }\n steps.critic 5",
])
def test_fmt_keeps_the_order_settings(settings):
    text = TOY % ("objective wasserstein\n constraint gradient_penalty\n " + settings)
    once = format_text(text)
    assert format_text(once) == once
    assert load_text(once).spec == load_text(text).spec


def test_diff_shows_changed_order_and_batching():
    base = spec_with("objective non_saturating")
    edits = [e.to_json() for e in diff_specs(base, spec_with("objective non_saturating\n steps.order simultaneous"))]
    assert edits == [{"op": "changed", "path": "steps.order", "old": "critic_first", "new": "simultaneous"}]
    edits = [e.to_json() for e in diff_specs(spec_with("objective non_saturating\n steps.critic 3"),
                                             spec_with("objective non_saturating\n steps { critic 3 "
                                                       "share_real_batch true }"))]
    assert edits == [{"op": "changed", "path": "steps.share_real_batch", "old": False, "new": True}]
    edits = [e.to_json() for e in diff_specs(base, spec_with("objective non_saturating\n train.generator_batch 32"))]
    assert edits == [{"op": "added", "path": "train.generator_batch", "old": None, "new": 32}]
    edits = [e.to_json() for e in diff_specs(spec_with("objective non_saturating\n train.generator_batch 32"),
                                             spec_with("objective non_saturating\n train.generator_batch 128"))]
    assert edits == [{"op": "changed", "path": "train.generator_batch", "old": 32, "new": 128}]


# ---- learning on the toy ring ----------------------------------------------------------------

RING = """
experiment ring_order {
  seed 0
  data { source ring(8, 1.0, 0.05) }
  latent normal(2)
  generator { dense(64) relu dense(64) relu dense(2) }
  critic { dense(64) relu dense(64) relu dense(1) }
  optimizer.generator adam(lr: 1e-3, beta1: 0.5, beta2: 0.9)
  optimizer.critic adam(lr: 1e-3, beta1: 0.5, beta2: 0.9)
  train { batch 128 iterations 300 }
  %s
}
"""


def ring_w1(generator, rng) -> float:
    """Exact W1 between 500 generated points and 500 ring samples."""
    fake = generator(rng.normal(size=(500, 2)).astype("float32"), training=False).numpy()
    return exact_w1(fake, ring_samples(rng, 500))


# One update each per iteration on this ring needs R1 (Mescheder et al. 2018) to settle: without it the
# non-saturating GAN oscillates in every order, critic_first included.
@pytest.mark.parametrize("settings", [
    "objective non_saturating\n constraint r1(gamma: 1)\n steps.order generator_first",
    "objective non_saturating\n constraint r1(gamma: 1)\n steps.order simultaneous",
    "objective wasserstein\n constraint gradient_penalty(weight: 0.1)\n steps { critic 3 share_real_batch true }",
    "objective wasserstein\n constraint gradient_penalty(weight: 0.1)\n steps.critic 3\n train.generator_batch 256",
], ids=["generator_first", "simultaneous", "share_real_batch", "generator_batch"])
def test_the_ring_is_learnt(settings):
    spec = load_text(RING % settings).spec
    step = compile_training(spec, sample=(2,))
    rng = np.random.default_rng(0)
    initial = ring_w1(step.generator, rng)
    for iteration in range(spec.train.iterations):
        batches = real_batches_at(spec, iteration)
        real = ring_samples(rng, batches * spec.train.batch).reshape(batches, spec.train.batch, 2)
        step(real, critic_steps=critic_steps_at(spec, iteration))
    assert ring_w1(step.generator, rng) < 0.5 * initial
