"""What each registered metric and objective says about itself, instead of guesses from names:
the roles of a metric's result keys (scores, settings, context), which scores are better lower,
whether it records its reference set; the objective traits the checks and health rules read."""

from __future__ import annotations

import numpy as np
import pytest

from ganspec.ir.components import METRICS, OBJECTIVES, Fid, InceptionScore, Kid, ModeCoverage, PrecisionRecall, \
    WassersteinDistance
from ganspec.metrics import METRIC_FUNCTIONS, Reference, context_keys, declared, lower_is_better, role, scores, shown
from ganspec.metrics import features as F
from ganspec.run.trainer import summarize

NUMERIC = [cls for cls in METRICS.items.values() if cls.kind_name() != "samples"]


def roles(cls) -> dict[str, str]:
    out = {**{k: "score" for k in cls.score_keys}, **{k: "setting" for k in cls.setting_keys}}
    if cls.context_of:
        out.update({k: "context" for k in context_keys(cls.kind_name())})
    return out


@pytest.mark.parametrize("cls", NUMERIC, ids=lambda c: c.kind_name())
def test_every_metric_declares_its_keys(cls):
    kind = cls.kind_name()
    assert cls.score_keys and kind in METRIC_FUNCTIONS
    declared_keys = list(cls.score_keys) + list(cls.setting_keys)
    assert len(set(declared_keys)) == len(declared_keys)
    assert set(cls.lower_is_better) <= set(cls.score_keys)
    assert cls.context_of is None or cls.context_of in cls.score_keys
    assert cls.records_reference == (f"{kind}_reference" in cls.setting_keys)
    for key, expected in roles(cls).items():
        assert declared(key) == (cls, expected)
        assert declared(f"{kind}.{key}") == (cls, expected)  # a run's second metric of the kind


def test_no_two_metrics_declare_one_key():
    keys = [k for cls in NUMERIC for k in roles(cls)]
    assert len(keys) == len(set(keys))


def test_the_sample_grid_has_no_scores():
    samples = METRICS["samples"]
    assert not samples.score_keys and not samples.setting_keys and samples.context_of is None


class TinyExtractor(F.FeatureExtractor):
    """A stand-in for the classifier: the first 8 pixels as features, NumPy only."""

    name = "classifier"
    weights_sha256 = "ab" * 32

    def describe(self):
        return {**super().describe(), "features_heldout_accuracy": 0.99}

    def network_inputs(self, unit):
        return unit.reshape(len(unit), -1)

    def forward(self, batch):
        features = batch[:, :8]
        e = np.exp(batch[:, :10])
        return features, e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def tiny_extractor(monkeypatch):
    from ganspec.metrics import images

    monkeypatch.setattr(images, "get_extractor", lambda name: TinyExtractor())


NODES = [ModeCoverage(samples=40), WassersteinDistance(samples=40), Fid(samples=40),
         Kid(samples=40, subsets=3, subset_size=20), InceptionScore(samples=40, splits=2), PrecisionRecall(samples=40)]


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.kind)
def test_roles_cover_every_key_a_metric_returns(node, tiny_extractor):
    rng = np.random.default_rng(0)
    if node.needs_toy or node.kind == "wasserstein_distance":
        modes = np.array([[1.0, 0.0], [-1.0, 0.0]])
        real, fake = modes[rng.integers(0, 2, 40)], modes[rng.integers(0, 2, 40)] + rng.normal(0, 0.01, (40, 2))
        ref = Reference(real=real, modes=modes, mode_std=0.01)
    else:
        real, fake = rng.uniform(-1, 1, (40, 6, 6, 1)), rng.uniform(-1, 1, (40, 6, 6, 1))
        ref = Reference(real=real, name="noise", value_range=(-1.0, 1.0))
    result = METRIC_FUNCTIONS[node.kind](node, fake, ref)
    declared_roles = roles(type(node))
    assert set(result) <= set(declared_roles)
    assert set(type(node).score_keys) <= set(result)
    for key, value in result.items():
        assert role(key, value) == declared_roles[key], key


# The stored result of one evaluation of a run, as every ganspec since the image metrics wrote it.
STORED = {"modes_covered": 7, "modes_total": 8, "high_quality_percent": 91.5, "reverse_kl": 0.05,
          "wasserstein_distance": 0.2, "wasserstein_distance_real_floor": 0.01, "wasserstein_distance_noise": 2.0,
          "fid": 12.3, "fid_features": "classifier", "fid_weights_sha256": "ab" * 32, "fid_samples": 5000,
          "fid_reference": "mnist", "fid_reference_samples": 5000, "fid_classifier_accuracy": 0.99,
          "fid_real_floor": 2.4, "fid_noise": 400.0,
          "kid": 0.01, "kid_std_error": 0.001, "kid_parameters": "subsets=100 subset_size=1000",
          "inception_score": 8.0, "inception_score_std": 0.1, "precision": 0.7, "recall": 0.6,
          "fid.fid": 20.0, "fid.fid_features": "inception", "features": "inception", "note": {"a": 1}}


def test_stored_results_read_as_before():
    assert list(scores(STORED)) == ["modes_covered", "high_quality_percent", "reverse_kl", "wasserstein_distance",
                                    "fid", "kid", "kid_std_error", "inception_score", "inception_score_std",
                                    "precision", "recall", "fid.fid"]
    assert list(shown(STORED)) == ["modes_covered", "high_quality_percent", "reverse_kl", "wasserstein_distance",
                                   "wasserstein_distance_real_floor", "wasserstein_distance_noise", "fid",
                                   "fid_real_floor", "fid_noise", "kid", "kid_std_error", "inception_score",
                                   "inception_score_std", "precision", "recall", "fid.fid"]


def test_lower_is_better_as_the_metric_says():
    assert {k for k in scores(STORED) if lower_is_better(k)} == {"reverse_kl", "wasserstein_distance", "fid", "kid",
                                                                  "fid.fid"}
    evaluations = [{"iteration": 10, "fid": 5.0, "modes_covered": 8}, {"iteration": 20, "fid": 9.0, "modes_covered": 6}]
    metrics = summarize([], evaluations, 20)["metrics"]
    assert metrics["fid"] == {"last": 9.0, "best": 5.0, "best_at": 10}
    assert metrics["modes_covered"] == {"last": 6, "best": 8, "best_at": 10}


def test_objective_traits_keep_the_kinds_the_checks_named():
    """The checks and health rules read these traits where they once listed kinds."""
    def having(trait, value=True):
        return {k for k, cls in OBJECTIVES.items.items() if getattr(cls, trait) == value}

    assert having("unbounded_critic") == {"wasserstein", "hinge"}  # no final sigmoid (W403)
    # label tricks do nothing (W411): exactly the objectives whose training losses read no targets
    assert having("real_fake_targets", False) == {"wasserstein", "hinge", "relativistic", "f_divergence"}
    from ganspec.train.objectives import OBJECTIVE_LOSSES

    for kind, cls in OBJECTIVES.items.items():
        losses = OBJECTIVE_LOSSES[kind]
        if not callable(losses):  # `split` takes its critic side's
            assert losses.uses_targets == cls.real_fake_targets, kind
    assert having("classification_loss", False) == {"wasserstein", "hinge", "f_divergence"}  # health: collapse
